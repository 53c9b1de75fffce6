"""console_pages: the server time of each console page's API calls with 1,000,000 events —
target < 300 ms a page, on SQLite and on PostgreSQL.

The store is filled as ``api_queries`` fills it (SQL-made events over 30 days, one pipeline
and one step each) and served by the same app (``web_app``: the API with the console
mounted) through a real uvicorn on loopback. A page's time is the sum of the calls it makes
when it opens, timed end to end one after the other (the browser makes some of them at once,
so this is an upper bound). The value is the worst page's p99; the baseline is the console's
HTML page itself. ``--quick`` uses 50,000 events. What needs a config file (the Sources and
Config pages, the alerts section) is not measured: the scenario runs without one.
"""

from __future__ import annotations

import random
import statistics

from bench.context import Context
from bench.report import Result, Stats
from bench.scenarios.api_queries import (
    EVENTS,
    PG_FILL,
    QUICK_EVENTS,
    SQLITE_FILL,
    _p99,
    _pg_database,
    _timed,
    served_store,
)

NAME = "console_pages"
TARGET_MS = 300

#: page → the API calls it makes when it opens ({id}: a random event)
PAGES: dict[str, list[str]] = {
    "dashboard_1h": [
        "/api/v1/summary?window=1h",
        "/api/v1/events?state=processing&until=15m&limit=10",
        "/api/v1/events?state=queued&until=15m&limit=10",
    ],
    "dashboard_7d": ["/api/v1/summary?window=7d"],
    "files": ["/api/v1/events?limit=50"],
    "files_search": ["/api/v1/events?q=f4242&limit=50"],
    "files_failed": ["/api/v1/events?state=failed&source=src1&limit=50"],
    "file": ["/api/v1/events/{id}"],
    "agents": ["/api/v1/agents"],
    "alerts": ["/api/v1/alerts"],
    "logs": ["/api/v1/logs?limit=200"],
    "audit": ["/api/v1/audit?limit=50"],
}


def run(ctx: Context) -> Result:
    count = QUICK_EVENTS if ctx.quick else EVENTS
    repeat = 20 if ctx.quick else 50
    sqlite_url = f"sqlite:///{ctx.tempdir('console') / 'store.db'}"
    found = {}
    if "sqlite" in ctx.databases:
        found["sqlite"] = _measure(sqlite_url, SQLITE_FILL, count, repeat)
    notes = ""
    with _pg_database(ctx) as pg_url:
        if "postgresql" not in ctx.databases:
            notes = "; PostgreSQL not asked for (--db)"
        elif pg_url is None:
            notes = "; PostgreSQL not reachable: SQLite only"
        else:
            found["postgresql"] = _measure(pg_url, PG_FILL, count, repeat)
    p99 = {db: {page: v["p99"] for page, v in pages.items()} for db, pages in found.items()}
    worst = max((v, f"{db} {page}") for db, pages in p99.items() for page, v in pages.items())
    html = [v["html"] for pages in found.values() for v in pages.values()]
    return Result(
        NAME,
        "ms",
        Stats.of([worst[0]]),
        Stats.of(html),
        "GET /console/ (the page)",
        target=TARGET_MS,
        target_on="value",
        better="lower",
        notes=f"{count:,} events; worst page p99: {worst[1]}; {repeat} loads per page{notes}",
        extra={
            "p99_ms": p99,
            "median_ms": {
                db: {page: v["median"] for page, v in pages.items()} for db, pages in found.items()
            },
        },
    )


def _measure(url: str, fill: list[str], count: int, repeat: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with served_store(url, fill, count, "admin") as client:
        for page, calls in PAGES.items():
            loads = []
            for _ in range(repeat + 1):  # the first load warms up and is not counted
                event_id = f"{random.randint(1, count):032x}"
                html = _timed(client, "/console/")
                loads.append(
                    (sum(_timed(client, c.replace("{id}", event_id)) for c in calls), html)
                )
            times = [t for t, _ in loads[1:]]
            out[page] = {
                "p99": round(_p99(times), 1),
                "median": round(statistics.median(times), 1),
                "html": statistics.median(h for _, h in loads[1:]),
            }
    return out
