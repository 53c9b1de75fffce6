"""reports: a 30-day report and an anomaly evaluation over N events on PostgreSQL (target:
report < 5 s and anomaly < 100 ms at 10,000,000 events), and what keeping the rollups costs
each finished file on the hot path.

The events are written by SQL (``generate_series``: 10 sources, 5 routes, 2 hosts, 1 in 20
failed, sizes 1 B-16 MiB, over 30 days); their rollups are then built by SQL in one pass,
grouped the way :mod:`filerelay.store.rollups` groups them (event and route outcomes, sizes,
latencies, per-action latencies, errors, S3 targets). The report and the anomaly rule read
only the rollups (and the stuck files, by index). ``--quick``: 200,000 events.

The hot-path cost: files run through the store's own ingest and step paths (admit, claim,
succeed) with the rollup hook on and replaced by a no-op, on PostgreSQL; the value reported
in ``extra`` is the median per-file difference.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bench.context import Context
from bench.report import Result, Stats

NAME = "reports"
FULL_EVENTS = 10_000_000
QUICK_EVENTS = 200_000
TARGET_MS = 5000
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

FILL = """
INSERT INTO file_events (id, source, path, relpath, size, mtime_ns, ctime_ns, inode, device,
  dedup_key, sha256, tags, host, stable_signal, detected_at, state, reason, created_at,
  updated_at)
SELECT lpad(to_hex(i), 32, '0'), 's' || (i % 10), '/d/' || i, i::text,
  (floor(power(2, (i * 7919) % 25)))::bigint, 0, 0, i, 0, 'k' || i, NULL, '{}',
  'h' || (i % 2), 'scan', t - make_interval(secs => 1 + (i % 90)),
  CASE WHEN i % 20 = 0 THEN 'failed' ELSE 'succeeded' END,
  CASE WHEN i % 20 = 0 THEN 'step up: HTTP 503 from <url>' END, t, t
FROM (SELECT i, :start + make_interval(secs => (i::double precision * :span / :n))
      AS t FROM generate_series(1::bigint, :n) AS i) AS g
"""

BOUNDS = "ARRAY[{}]::double precision[]"

ROLLUP = """
INSERT INTO rollups (hour, source, route, host, kind, key, n, total)
SELECT hour, source, route, host, kind, key, count(*), sum(total) FROM (
  SELECT date_trunc('hour', updated_at) AS hour, source, x.route, host, x.kind, x.key, x.total
  FROM (SELECT *, 'r' || (abs(hashtext(id)) % 5) AS rt,
               extract(epoch FROM updated_at - detected_at) AS lat FROM file_events
        WHERE updated_at >= :day AND updated_at < :day + interval '1 day') e
  CROSS JOIN LATERAL (VALUES
    ('', 'outcome', e.state, e.size::double precision),
    (e.rt, 'outcome', e.state, e.size::double precision),
    ('', 'size', (CASE WHEN e.size = 0 THEN 1
                   ELSE power(4, floor(ln(e.size) / ln(4)) + 1)::bigint END)::text, e.size),
    ('', 'latency', CASE WHEN e.state = 'succeeded' THEN
       ((:bounds)[width_bucket(e.lat, :bounds) + 1])::text END, e.lat),
    (e.rt, 'latency', CASE WHEN e.state = 'succeeded' THEN
       ((:bounds)[width_bucket(e.lat, :bounds) + 1])::text END, e.lat),
    (e.rt, 'step:s3', CASE WHEN e.state = 'succeeded' THEN
       ((:bounds)[width_bucket(e.lat / 3, :bounds) + 1])::text END, e.lat / 3),
    (e.rt, 's3', CASE WHEN e.state = 'succeeded' THEN 'bucket/' || e.source END, e.size),
    ('', 'error', CASE WHEN e.state = 'failed' THEN e.reason END, 0)
  ) AS x(route, kind, key, total)
  WHERE x.key IS NOT NULL
) AS rows GROUP BY hour, source, route, host, kind, key
"""


def run(ctx: Context) -> Result:
    n = QUICK_EVENTS if ctx.quick else FULL_EVENTS
    repeat = 3 if ctx.quick else 5
    name = f"bench_reports_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        return _measure(url, n, repeat)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _measure(url: str, n: int, repeat: int) -> Result:
    from filerelay.store import Store, ensure_schema, make_engine

    engine = make_engine(url)
    try:
        ensure_schema(engine, auto_upgrade=True)
        now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
        fill_s, rollup_s, rows = _fill(engine, n, now)
        store = Store(engine)
        report_ms = _times(lambda: _report(store, now), repeat)
        anomaly_ms = _times(lambda: _anomaly(engine, now), repeat * 4)
        hook = _hot_path_cost(store)
    finally:
        engine.dispose()
    return Result(
        NAME,
        "ms",
        Stats.of(report_ms),
        Stats.of(anomaly_ms),
        "anomaly evaluation (files by source, 4 weeks)",
        target=TARGET_MS,
        target_on="value",
        better="lower",
        notes=f"{n:,} events over 30 days on PostgreSQL; {rows:,} rollup rows; 30-day report "
        f"(month, every figure and format-ready dict), {repeat} repeats",
        extra={
            "events": n,
            "rollup_rows": rows,
            "fill_s": round(fill_s, 1),
            "rollup_build_s": round(rollup_s, 1),
            "anomaly_ms_median": round(statistics.median(anomaly_ms), 2),
            "anomaly_target_ms": 100,
            **hook,
        },
    )


def _fill(engine: Engine, n: int, now: datetime) -> tuple[float, float, int]:
    from filerelay.buckets import LATENCY_BOUNDS

    bounds = BOUNDS.format(", ".join(f"{b!r}" for b in LATENCY_BOUNDS))
    start = now - timedelta(days=30)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(FILL), {"start": start, "span": 30 * 86400.0, "n": n})
    t1 = time.perf_counter()
    rollup = text(ROLLUP.replace(":bounds", bounds))
    for d in range(31):  # a day at a time: no sort of the whole month's rows
        with engine.begin() as conn:
            conn.execute(rollup, {"day": start.replace(minute=0) + timedelta(days=d)})
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        rows = int(conn.execute(text("SELECT count(*) FROM rollups")).scalar() or 0)
    return t1 - t0, time.perf_counter() - t1, rows


def _report(store: Any, now: datetime) -> None:
    from filerelay.config.reports import ReportsConfig, SloConfig
    from filerelay.ops.reports import build_report, render

    slos = [SloConfig(name="fast", route="r1", objective=0.99, latency=60)]
    report = build_report(store, period="month", config=ReportsConfig(), slos=slos, now=now)
    render(report, "html")


def _anomaly(engine: Engine, now: datetime) -> None:
    from filerelay.reports.anomaly import judge
    from filerelay.reports.data import RollupReader

    judge(RollupReader(engine), now, "files", "source", weeks=4, min_weeks=2)


def _times(fn: Callable[[], None], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _hot_path_cost(store: Any, files: int = 150) -> dict[str, float]:
    """Per-file ms of admit + claim + succeed with and without the rollup hook (interleaved
    rounds, so load changes hit both)."""
    from filerelay.store import rollups

    real = rollups.record_finish
    on: list[float] = []
    off: list[float] = []
    for rnd in range(6):
        use_hook = rnd % 2 == 0
        rollups.record_finish = real if use_hook else (lambda *a, **k: None)
        try:
            (on if use_hook else off).append(_files(store, files, rnd) / files)
        finally:
            rollups.record_finish = real
    return {
        "hot_path_ms_per_file_with_rollup": round(statistics.median(on), 3),
        "hot_path_ms_per_file_without": round(statistics.median(off), 3),
        "hot_path_rollup_cost_ms": round(statistics.median(on) - statistics.median(off), 3),
    }


def _files(store: Any, files: int, rnd: int) -> float:
    from filerelay.model import FileEvent
    from filerelay.store import RoutePlan, StepPlan
    from filerelay.store.records import Verdict

    t0 = time.perf_counter()
    for i in range(files):
        event = FileEvent(
            source="hot", path=f"/h/{rnd}/{i}", relpath=f"{rnd}/{i}", size=1000, mtime_ns=0,
            inode=i, ctime_ns=0, dedup_key=f"hot-{rnd}-{i}-{uuid.uuid4().hex}",
        )  # fmt: skip
        step = StepPlan(position=1, branch=0, name="up", action="copy", max_attempts=3)
        admitted = store.admit(event, Verdict([RoutePlan(route="r", steps=[step])], "h"))
        ref = admitted.first_steps[0]
        claim = store.claim_step(ref.step_id, "w", 60)
        store.succeed_step(claim, "w", {"ok": True})
    return (time.perf_counter() - t0) * 1000
