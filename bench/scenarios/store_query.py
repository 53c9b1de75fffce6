"""store_query: the first page of ``filerelay events list`` with filters over 100,000 events in
a SQLite store (target ≤ 200 ms).

The measurement itself belongs to the operator tooling: ``bench/store_query.py``, written
with ``filerelay events list``, provides ``run(ctx: Context) -> Result``. When that module is
not in this tree (or fails) the scenario is reported with a null value and a note saying
why, so its key stays in ``latest.json``.
"""

from __future__ import annotations

import importlib
import importlib.util

from bench.context import Context
from bench.report import Result

NAME = "store_query"
MODULE = "bench.store_query"
TARGET_MS = 200


def run(ctx: Context) -> Result:
    if importlib.util.find_spec(MODULE) is None:
        return _null("operator tooling not present (no bench/store_query.py in this tree)")
    try:
        result: Result = importlib.import_module(MODULE).run(ctx)
    except Exception as exc:
        return _null(f"bench/store_query.py failed: {type(exc).__name__}: {exc}")
    return result


def _null(why: str) -> Result:
    return Result(
        NAME, "ms", None, None, "", TARGET_MS, target_on="value", better="lower", notes=why
    )
