"""How long one alert rule's measure takes on a big store: N finished events (1 in 7 failed,
10 sources) spread over SPREAD_S seconds before now, in a fresh SQLite file.

    python -m bench.alert_rules 1000000 /tmp/alerts.db 2592000   # 30 days of history
    python -m bench.alert_rules 1000000 /tmp/alerts.db 7200      # all of it in 2 hours

Prints the best of three evaluations per rule kind (15-minute windows).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from filerelay.alerting.measures import Inputs, measure
from filerelay.alerting.repo import AlertStore
from filerelay.config.alerts import FailureRateRule, LatencySloRule, SilentSourceRule
from filerelay.store import ensure_schema, make_engine
from filerelay.store.db import utcnow
from filerelay.store.schema import file_events

BATCH = 10_000


def fill(engine: Engine, n: int, spread_s: float) -> None:
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for i in range(n):
        at = now - timedelta(seconds=random.uniform(0, spread_s))
        rows.append(
            {
                "id": f"e{i:031d}",
                "source": f"s{i % 10}",
                "path": f"/d/{i}",
                "relpath": str(i),
                "size": 1,
                "mtime_ns": 0,
                "ctime_ns": 0,
                "inode": i,
                "device": 0,
                "dedup_key": f"k{i}",
                "tags": {},
                "host": "h",
                "stable_signal": "scan",
                "detected_at": at - timedelta(seconds=random.uniform(0, 30)),
                "state": "failed" if i % 7 == 0 else "succeeded",
                "created_at": at,
                "updated_at": at,
            }
        )
        if len(rows) == BATCH:
            with engine.begin() as conn:
                conn.execute(insert(file_events), rows)
            rows = []
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(file_events), rows)


def main(n: int, db: Path, spread_s: float) -> None:
    db.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{db}")
    ensure_schema(engine, auto_upgrade=True)
    fill(engine, n, spread_s)
    inputs = Inputs(AlertStore(engine), [f"s{i}" for i in range(10)])
    rules: list[Any] = [
        FailureRateRule(name="f", kind="failure_rate", by="source", threshold=0.5, channels=["x"]),
        LatencySloRule(name="l", kind="latency_slo", max_latency=60, channels=["x"]),
        SilentSourceRule(name="s", kind="silent_source", after=3600, channels=["x"]),
    ]
    for rule in rules:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            measure(rule, inputs, utcnow())
            best = min(best, time.perf_counter() - start)
        print(f"{n} events  {rule.kind:14s} {best * 1000:8.1f} ms")
    engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]))
