"""api_queries: the HTTP API's heaviest reads on a big store — ``GET events`` (first page),
``GET events/{id}`` (a timeline) and ``GET summary?window=24h`` — p99 under 100 ms with
1,000,000 events, on SQLite and on PostgreSQL. The list is measured unfiltered, with each
filter of :data:`FILTERS` alone, and on its second page of a keyword (a cursor).

The rows are made by SQL (a recursive CTE on SQLite, ``generate_series`` on PostgreSQL), not
through the pipeline: events spread over 30 days (so about 33,000 finish in the last 24 h),
one pipeline and one step each, 6 % failed. A real uvicorn serves ``create_app`` over the
store on loopback; each request is timed end to end by an HTTP client. The value is the
worst p99 of the three routes over both databases; the baseline is ``GET health`` (the
framework's floor). ``--quick`` uses 50,000 events. PostgreSQL comes from
``FILERELAY_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``); without it the
scenario measures SQLite only and says so.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.context import Context
from bench.report import Result, Stats

NAME = "api_queries"
TARGET_MS = 100
EVENTS = 1_000_000
QUICK_EVENTS = 50_000
SPAN_S = 30 * 86400
#: Seconds each store took to fill, roll up and analyze (by URL scheme), for the results.
FILL_S: dict[str, dict[str, float]] = {}
PG_DSN = os.environ.get("FILERELAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

# One statement per table; :n rows, :now epoch seconds, :span seconds back. The columns of
# file_events in table order (the fleet's ``agent`` last: migration 0010 added it).
SQLITE_FILL = [
    """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)
    INSERT INTO file_events SELECT printf('%032x', i), 'src' || (i % 4), '/data/f' || i,
      'd' || (i % 97) || '/f' || i || '.bin', 1000, i, i, i, 1, 'k:' || i, NULL, '{}', 'bench',
      'scan', t, CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END,
      CASE WHEN i % 17 = 0 THEN 'step s3: ReadTimeout: s3 timed out' END, NULL, t, u, ''
    FROM (SELECT i, datetime(:now - (i * :span) / :n, 'unixepoch') || '.000000' AS t,
                 datetime(:now - (i * :span) / :n + 2, 'unixepoch') || '.000000' AS u FROM n)""",
    """INSERT INTO pipelines (id, event_id, route, run, config_hash, status, current_position,
      error, created_at, finished_at, cancel_requested)
    SELECT rowid, id, 'route' || (rowid % 3), 1, 'h', state, 0, reason, created_at, updated_at, 0
    FROM file_events""",
    """INSERT INTO steps (pipeline_id, position, branch, name, action, status, attempts,
      max_attempts, idempotency_key, started_at, finished_at, duration_ms, phase)
    SELECT id, 0, 0, 's3', 's3', status, 1, 3, 'k' || id, created_at, finished_at, 40, 'main'
    FROM pipelines""",
]
PG_FILL = [
    """INSERT INTO file_events SELECT lpad(to_hex(i), 32, '0'), 'src' || (i % 4), '/data/f' || i,
      'd' || (i % 97) || '/f' || i || '.bin', 1000, i, i, i, 1, 'k:' || i, NULL, '{}', 'bench',
      'scan', t, CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END,
      CASE WHEN i % 17 = 0 THEN 'step s3: ReadTimeout: s3 timed out' END, NULL, t,
      t + interval '2 seconds', ''
    FROM (SELECT i, to_timestamp(:now - (i::float8 * :span) / :n) AT TIME ZONE 'UTC' AS t
          FROM generate_series(1, :n) AS i) AS g""",
    """INSERT INTO pipelines (id, event_id, route, run, config_hash, status, current_position,
      error, created_at, finished_at, cancel_requested)
    SELECT ('x' || right(id, 8))::bit(32)::int, id, 'route' || (size % 3), 1, 'h', state, 0,
      reason, created_at, updated_at, false FROM file_events""",
    """INSERT INTO steps (pipeline_id, position, branch, name, action, status, attempts,
      max_attempts, idempotency_key, started_at, finished_at, duration_ms, phase)
    SELECT id, 0, 0, 's3', 's3', status, 1, 3, 'k' || id, created_at, finished_at, 40, 'main'
    FROM pipelines""",
]


def run(ctx: Context) -> Result:
    count = QUICK_EVENTS if ctx.quick else EVENTS
    repeat = 30 if ctx.quick else 100
    found: dict[str, dict[str, float]] = {}
    health: list[float] = []
    sqlite_url = f"sqlite:///{ctx.tempdir('api') / 'store.db'}"
    medians: dict[str, dict[str, float]] = {"sqlite": {}, "postgresql": {}}
    if "sqlite" in ctx.databases:
        found["sqlite"] = _measure(
            sqlite_url, SQLITE_FILL, count, repeat, health, medians["sqlite"]
        )
    notes = ""
    with _pg_database(ctx) as pg_url:
        if "postgresql" not in ctx.databases:
            notes = "; PostgreSQL not asked for (--db)"
        elif pg_url is None:
            notes = "; PostgreSQL not reachable: SQLite only"
        else:
            found["postgresql"] = _measure(
                pg_url, PG_FILL, count, repeat, health, medians["postgresql"]
            )
    worst = max(
        (p99, f"{db} {route}") for db, routes in found.items() for route, p99 in routes.items()
    )
    return Result(
        NAME,
        "ms",
        Stats.of([worst[0]]),
        Stats.of(health),
        "GET health",
        target=TARGET_MS,
        target_on="value",
        better="lower",
        notes=f"{count:,} events; worst p99: {worst[1]}; {repeat} requests per route{notes}",
        extra={
            "fill_s": FILL_S,
            "p99_ms": {
                db: {r: round(v, 1) for r, v in routes.items()} for db, routes in found.items()
            },
            "median_ms": medians,
        },
    )


#: The list's filters, one at a time (name, query): a rare and a common state, a source, a
#: route, a path prefix (relative and absolute), a file name at any depth, a time range, a
#: rare keyword (about 111 files of 1,000,000) and a common one (1 in 17, in the error text).
FILTERS = [
    ("state_failed", "state=failed"),
    ("state_queued", "state=queued"),
    ("source", "source=src2"),
    ("route", "route=route1"),
    ("path_prefix", "path=d42/f42*"),
    ("path_absolute", "path=/data/f4242*"),
    ("path_name", "path=f4242*.bin"),
    ("since_until", "since=3d&until=2d"),
    ("q_rare", "q=f4242"),
    ("q_common", "q=timeout"),
]


def _fixed(path: str) -> Any:
    return lambda _i: path


def _measure(
    url: str,
    fill: list[str],
    count: int,
    repeat: int,
    health: list[float],
    medians: dict[str, float],
) -> dict[str, float]:
    with served_store(url, fill, count, "viewer") as client:
        ids = [f"{random.randint(1, count):032x}" for _ in range(repeat)]
        cursor: str = client.get("/api/v1/events?q=f424&limit=50").json()["next_cursor"]
        routes = {
            "events": lambda _i: "/api/v1/events?limit=50",
            **{f"events_{name}": _fixed(f"/api/v1/events?{q}&limit=50") for name, q in FILTERS},
            "events_page2": lambda _i: f"/api/v1/events?q=f424&limit=50&cursor={cursor}",
            "event": lambda i: f"/api/v1/events/{ids[i]}",
            "summary_24h": lambda _i: "/api/v1/summary?window=24h",
        }
        out = {}
        for name, path in routes.items():
            client.get(path(0))  # warm
            times = [_timed(client, path(i)) for i in range(repeat)]
            out[name] = _p99(times)
            medians[name] = round(statistics.median(times), 1)
        health.extend(_timed(client, "/api/v1/health") for _ in range(repeat))
    return out


@contextmanager
def served_store(url: str, fill: list[str], count: int, role: str) -> Iterator[Any]:
    """A store at ``url`` filled by the ``fill`` statements (``count`` events), served by a
    real uvicorn: an httpx client with a token of ``role`` on it."""
    import httpx
    from sqlalchemy import text

    from filerelay.ops import tokens
    from filerelay.ops.deployment import Deployment
    from filerelay.settings import load_settings
    from filerelay.store.migrate import upgrade

    settings = load_settings(
        database_url=url, state_dir=url.rsplit("/", 1)[0].split("///")[-1] or "/tmp"
    )
    dep = Deployment.open(settings)
    try:
        upgrade(dep.store.engine)
        with dep.store.engine.connect() as conn:
            held = conn.execute(text("SELECT count(*) FROM file_events")).scalar()
        if held == count:  # a kept database (--pg-database), filled by an earlier run
            FILL_S[url.split(":", 1)[0]] = {"reused": True}  # (its events' times are older)
        else:
            if held:
                raise RuntimeError(f"{url}: holds {held} events, not {count}: drop it first")
            _fill(dep.store.engine, url, fill, count)
        name = f"bench-{uuid.uuid4().hex[:6]}"
        token = tokens.create(dep.control, name, tokens.Role(role), None, "bench").token
        with (
            _served(settings, dep) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
            ) as client,
        ):
            yield client
    finally:
        dep.close()


def _fill(engine: Any, url: str, fill: list[str], count: int) -> None:
    from sqlalchemy import text

    from filerelay.store import summary_rollups

    params = {"n": count, "now": int(time.time()), "span": SPAN_S}
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in fill:
            conn.execute(text(statement), params)
        filled = time.perf_counter()
        summary_rollups.rebuild(conn)  # what the events' transitions would have kept
    rolled = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    FILL_S[url.split(":", 1)[0]] = {
        "fill_s": round(filled - started, 1),
        "rollups_s": round(rolled - filled, 1),
        "analyze_s": round(time.perf_counter() - rolled, 1),
    }


def _timed(client: Any, path: str) -> float:
    started = time.perf_counter()
    got = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if got.status_code != 200:
        raise RuntimeError(f"{path}: {got.status_code} {got.text[:200]}")
    return elapsed


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


@contextmanager
def _served(settings: Any, dep: Any) -> Iterator[str]:
    import socket

    import uvicorn

    from filerelay.cli.serve import uvicorn_config, web_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.api_port = port
    server = uvicorn.Server(uvicorn_config(web_app(settings, dep), settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def _pg_database(ctx: Context) -> Iterator[str | None]:
    """A PostgreSQL database URL: a temporary database (dropped after), or the one named by
    ``--pg-database`` (made if missing, kept), or None when the server is not reachable or
    PostgreSQL is not asked for."""
    if "postgresql" not in ctx.databases:
        yield None
        return
    try:
        import psycopg

        admin = psycopg.connect(PG_DSN, connect_timeout=3, autocommit=True)
    except Exception:
        yield None
        return
    name = ctx.pg_database or f"filerelay_bench_{uuid.uuid4().hex[:8]}"
    known = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if known is None:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_DSN.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"postgresql+psycopg://{base}/{name}"
    finally:
        if ctx.pg_database is None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
