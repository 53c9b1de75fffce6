"""store_query: the first page of ``filerelay events list`` with filters over 100,000 events in
a SQLite store (target ≤ 200 ms).

The measurement itself belongs to the operator tooling (``bench/store_query.py``, next to
``filerelay events list``). When that module is not in this tree the scenario is reported
with a null value and says so, keeping its key in ``latest.json``.
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
        return Result(
            NAME,
            "ms",
            None,
            None,
            "",
            target=TARGET_MS,
            target_on="value",
            better="lower",
            notes="operator tooling not present (no bench/store_query.py in this tree)",
        )
    result: Result = importlib.import_module(MODULE).run(ctx)
    return result
