"""SLO math: attainment and error budget over the SLO's window (from the rollups), and burn
rates over short windows (from the raw rows, as the rollups are hourly).

A file is *good* when it succeeded (and, with ``latency``, within it); the error budget is
``1 - objective`` of the files; the burn rate is the bad share divided by that budget (1 =
spending it exactly over the window).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from filerelay.config.reports import SloConfig
from filerelay.reports.data import Filters, RollupReader
from filerelay.reports.stats import bound

GOOD_STATES = ("succeeded",)
DECIDED = ("succeeded", "failed", "compensation_failed")


def _filters(s: SloConfig) -> Filters:
    return Filters(
        sources=[s.source] if s.source else [], routes=[s.route] if s.route else [], hosts=[]
    )


def good_total(s: SloConfig, cells: list[tuple[str, str, str, str, int, float]]) -> tuple[int, int]:
    """``(good, total)`` of rollup cells under the SLO."""
    total = sum(n for _s, _r, kind, key, n, _t in cells if kind == "outcome" and key in DECIDED)
    if s.latency is None:
        good = sum(
            n for _s, _r, kind, key, n, _t in cells if kind == "outcome" and key in GOOD_STATES
        )
    else:
        limit = s.latency + 1e-9
        good = sum(
            n for _s, _r, kind, key, n, _t in cells if kind == "latency" and bound(key) <= limit
        )
    return good, total


def status(reader: RollupReader, s: SloConfig, now: datetime) -> dict[str, Any]:
    """Attainment, error budget left and the current burn rates of one SLO."""
    flt = _filters(s)
    since = now - timedelta(seconds=s.window)
    cells = reader.totals(since, now + timedelta(hours=1), flt, route_level=bool(s.route))
    good, total = good_total(s, cells)
    attainment = good / total if total else None
    budget = 1 - s.objective
    spent = (1 - attainment) / budget if attainment is not None else 0.0
    return {
        "name": s.name,
        "route": s.route,
        "source": s.source,
        "objective": s.objective,
        "latency_s": s.latency,
        "window_s": s.window,
        "good": good,
        "total": total,
        "attainment": attainment,
        "met": attainment is None or attainment >= s.objective,
        "error_budget_remaining": 1 - spent,
        "burn_rate_1h": burn_rate(reader, s, now, 3600.0)[0],
    }


def burn_rate(
    reader: RollupReader, s: SloConfig, now: datetime, window_s: float
) -> tuple[float, int]:
    """``(burn rate, files)`` over the last ``window_s`` seconds, from the raw rows."""
    rows = reader.recent_outcomes(now - timedelta(seconds=window_s), now, s.source, s.route)
    decided = [(st, lat) for st, lat in rows if st in DECIDED]
    if not decided:
        return 0.0, 0
    good = sum(
        1 for st, lat in decided if st in GOOD_STATES and (s.latency is None or lat <= s.latency)
    )
    bad_share = 1 - good / len(decided)
    return bad_share / (1 - s.objective), len(decided)
