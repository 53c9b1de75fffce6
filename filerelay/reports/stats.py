"""The statistics the reports use: percentiles of bucketed latencies, robust baselines
(median and MAD), least-squares trends."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

#: MAD x this estimates a standard deviation for normal data.
MAD_SCALE = 1.4826


def bound(key: str) -> float:
    """A bucket key's upper bound (``'inf'`` → infinity)."""
    return math.inf if key == "inf" else float(key)


def histogram_percentile(buckets: Mapping[str, int], pct: float) -> float | None:
    """The nearest-rank ``pct`` percentile of a bucketed histogram: the upper bound of the
    bucket holding it (None when empty)."""
    total = sum(buckets.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(pct / 100 * total))
    seen = 0
    for key in sorted(buckets, key=bound):
        seen += buckets[key]
        if seen >= rank:
            return bound(key)
    return None  # pragma: no cover - the loop reaches rank


def median_mad(values: Sequence[float]) -> tuple[float, float]:
    """Median and median absolute deviation of ``values`` (not empty)."""
    med = statistics.median(values)
    return med, statistics.median(abs(v - med) for v in values)


def robust_score(
    value: float, history: Sequence[float], floor: float
) -> tuple[float, float, float]:
    """``(score, median, scale)``: how many robust deviations ``value`` is from ``history``.

    The scale is ``1.4826 x MAD`` but never below ``floor`` (nor below the square root of the
    median, the spread of a Poisson count): a history of identical values must not make every
    small wiggle infinitely unusual.
    """
    med, mad = median_mad(history)
    scale = max(MAD_SCALE * mad, floor, math.sqrt(max(med, 0.0)))
    return (value - med) / scale, med, scale


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``ys`` on ``xs`` (a flat line for < 2 points)."""
    if len(xs) < 2:
        return 0.0, (ys[0] if ys else 0.0)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change from ``previous`` to ``current`` (None when not defined)."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous
