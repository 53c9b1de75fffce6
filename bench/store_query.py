"""``events list`` on a big store: time to the first page, per filter, on SQLite.

Fills a fresh SQLite store with N events (default 100,000) spread over 7 days — states,
sources, routes and error texts mixed as in a busy drop folder, one pipeline and one step per
event — then times ``list_events`` (the page query plus the routes of the page) for each
filter: the first page, and a page deep into the results through the cursor.

    python -m bench.store_query [--events 100000] [--repeat 20] [--db PATH]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from filerelay.ops.events import list_events
from filerelay.ops.inputs import parse_time
from filerelay.store import Store, make_engine
from filerelay.store.listing import EventFilter
from filerelay.store.migrate import upgrade
from filerelay.store.schema import file_events, pipelines, steps

SOURCES = ["camera", "scans", "logs", "exports"]
ROUTES = ["upload", "archive", "notify"]
STATES = ["succeeded"] * 85 + ["failed"] * 6 + ["duplicate"] * 5 + ["skipped"] * 3 + ["queued"]
ERRORS = ["NoSuchBucket: bucket raw", "ReadTimeout: s3 timed out", "HTTP 503 from hook"]
EXTS = [".jpg", ".mp4", ".csv", ".log"]
BATCH = 5_000


def _rows(i: int, now: datetime, rng: random.Random) -> tuple[dict[str, Any], ...]:
    state = rng.choice(STATES)
    source = SOURCES[i % len(SOURCES)]
    relpath = f"{now:%Y}/d{i % 97:02d}/file-{i:07d}{EXTS[i % len(EXTS)]}"
    created = now - timedelta(seconds=rng.uniform(0, 7 * 86400))
    error = rng.choice(ERRORS) if state == "failed" else None
    event_id = f"{int(created.timestamp() * 1000):012x}{rng.getrandbits(80):020x}"
    event = {
        "id": event_id, "source": source, "path": f"/data/{source}/{relpath}",
        "relpath": relpath, "size": 1000 + i, "mtime_ns": i, "ctime_ns": i, "inode": i,
        "device": 1, "dedup_key": f"path:{source}:{relpath}:{i}", "sha256": None, "tags": {},
        "host": "bench", "stable_signal": "scan", "detected_at": created, "state": state,
        "reason": error and f"step 0-s3: {error}", "duplicate_of": None,
        "created_at": created, "updated_at": created,
    }  # fmt: skip
    pipeline = {
        "id": i + 1, "event_id": event_id, "route": ROUTES[i % len(ROUTES)], "run": 1,
        "config_hash": "0" * 64, "status": "failed" if error else "succeeded",
        "current_position": 0, "error": error, "created_at": created, "finished_at": created,
    }  # fmt: skip
    step = {
        "pipeline_id": i + 1, "position": 0, "branch": 0, "name": "0-s3", "action": "s3",
        "status": pipeline["status"], "attempts": 1, "max_attempts": 5, "last_error": error,
        "idempotency_key": f"k{i}", "started_at": created, "finished_at": created,
        "duration_ms": 40,
    }  # fmt: skip
    return event, pipeline, step


def fill(store: Store, count: int, seed: int = 7) -> None:
    """Insert ``count`` events with a pipeline and a step each, in batches."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for start in range(0, count, BATCH):
        rows = [_rows(i, now, rng) for i in range(start, min(count, start + BATCH))]
        with store.engine.begin() as conn:
            conn.execute(insert(file_events), [r[0] for r in rows])
            conn.execute(insert(pipelines), [r[1] for r in rows])
            conn.execute(insert(steps), [r[2] for r in rows])
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


CASES: dict[str, dict[str, Any]] = {
    "no filter": {},
    "--state failed": {"state": "failed"},
    "--state failed --since 2h": {"state": "failed", "since": "2h"},
    "--source scans --route archive": {"source": "scans", "route": "archive"},
    "--route notify --state failed": {"route": "notify", "state": "failed"},
    "--path '*.mp4' --since 1d": {"path_glob": "*.mp4", "since": "1d"},
    "--search timeout": {"search": "timeout"},
    "--search file-0099999 (one row)": {"search": "file-0099999"},
    "--state queued --search nothing (no row)": {"state": "queued", "search": "zzz-nothing"},
}


def _filter(case: dict[str, Any]) -> EventFilter:
    values = dict(case)
    if "since" in values:
        values["since"] = parse_time(values["since"], "--since")
    return EventFilter(**values)


def time_case(store: Store, flt: EventFilter, repeat: int, deep: bool) -> tuple[float, float, int]:
    """(median ms, max ms, rows) of the first page, or of page 20 when ``deep``."""
    cursor = None
    if deep:
        for _ in range(19):
            page = list_events(store, flt, 50, cursor)
            cursor = page.next_cursor
            if cursor is None:
                break
    timings = []
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = len(list_events(store, flt, 50, cursor).rows)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), max(timings), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        store = Store(make_engine(f"sqlite:///{path}"))
        upgrade(store.engine)
        started = time.perf_counter()
        fill(store, args.events)
        print(f"filled {args.events:,} events in {time.perf_counter() - started:.1f}s ({path})")
        print(f"{'filter':44} {'page':>5} {'rows':>5} {'median ms':>10} {'max ms':>8}")
        for name, case in CASES.items():
            for deep in (False, True):
                median, worst, rows = time_case(store, _filter(case), args.repeat, deep)
                page = "20" if deep else "1"
                print(f"{name:44} {page:>5} {rows:>5} {median:>10.1f} {worst:>8.1f}")
        store.engine.dispose()


if __name__ == "__main__":
    main()
