"""store_query: the first page of ``filerelay events list`` with filters over 100,000 events in
a SQLite store (target ≤ 200 ms, for every filter).

The store and the filters come from the operator tooling's own ``bench/store_query.py``
(``fill``, ``CASES``, ``time_case``). The value is the slowest filter's first page (median of
its repeats); the per-filter medians are in ``cases_ms``. Baseline: the unfiltered first page
as one raw ``sqlite3`` query (newest 50 rows), the floor of any page. When that module is not
in this tree the scenario is reported with a null value and says so, keeping its key.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sqlite3
import statistics
import time
from typing import Any

from bench.context import Context
from bench.report import Result, Stats

NAME = "store_query"
MODULE = "bench.store_query"
EVENTS = 100_000
TARGET_MS = 200
RAW_PAGE = "SELECT * FROM file_events ORDER BY created_at DESC, id DESC LIMIT 50"


def run(ctx: Context) -> Result:
    if importlib.util.find_spec(MODULE) is None:
        return _null("operator tooling not present (no bench/store_query.py in this tree)")
    tooling = importlib.import_module(MODULE)
    repeat = 5 if ctx.quick else 20
    db = ctx.tempdir("store") / "store.db"
    cases, slowest = _measure(tooling, f"sqlite:///{db}", repeat)
    worst = max(cases, key=lambda name: cases[name])
    return Result(
        NAME,
        "ms",
        slowest,
        Stats.of(_raw_page(str(db), repeat)),
        "raw sqlite3 first page, no filter",
        target=TARGET_MS,
        target_on="value",
        better="lower",
        notes=f"{EVENTS:,} events; slowest filter: {worst}; first page of 50, {repeat} repeats "
        "per filter",
        extra={"cases_ms": {name: round(ms, 1) for name, ms in cases.items()}},
    )


def _measure(tooling: Any, url: str, repeat: int) -> tuple[dict[str, float], Stats]:
    """Fill the store, time every filter's first page; (median per filter, slowest's stats)."""
    from filerelay.store import Store, make_engine
    from filerelay.store.migrate import upgrade

    store = Store(make_engine(url))
    try:
        upgrade(store.engine)
        tooling.fill(store, EVENTS)
        cases: dict[str, float] = {}
        timings: dict[str, list[float]] = {}
        for name, case in tooling.CASES.items():
            flt = tooling._filter(case)
            timings[name] = [tooling.time_case(store, flt, 1, False)[0] for _ in range(repeat)]
            cases[name] = statistics.median(timings[name])
    finally:
        store.engine.dispose()
    worst = max(cases, key=lambda name: cases[name])
    return cases, Stats.of(timings[worst])


def _raw_page(path: str, repeat: int) -> list[float]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        out = []
        for _ in range(repeat):
            started = time.perf_counter()
            db.execute(RAW_PAGE).fetchall()
            out.append((time.perf_counter() - started) * 1000)
    return out


def _null(why: str) -> Result:
    return Result(
        NAME, "ms", None, None, "", TARGET_MS, target_on="value", better="lower", notes=why
    )
