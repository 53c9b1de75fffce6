"""The anomaly baseline: the last complete hour of each source or route against the same
hour of the week in the previous weeks, with robust statistics (median and MAD).

An hour's value is its files, bytes or failure rate (from the rollups, one query). A group
with fewer than ``min_weeks`` weeks of history (counted from the oldest rollup hour in the
store) is never judged; a group present in the history and absent now counts as zero, which
is how a drop to nothing is seen.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from filerelay.reports.data import RollupReader
from filerelay.reports.stats import robust_score
from filerelay.store.rollups import hour_of

WEEK = timedelta(days=7)
FAILED = ("failed", "compensation_failed")
DECIDED = ("succeeded", *FAILED)


@dataclass(frozen=True)
class Judgement:
    """One group's last hour against its baseline."""

    group: str
    hour: datetime
    value: float
    median: float
    scale: float
    score: float
    weeks: int


def _value(metric: str, cells: dict[str, list[float]], min_events: int) -> float | None:
    if metric == "files":
        return sum(v[0] for v in cells.values())
    if metric == "bytes":
        return sum(v[1] for v in cells.values())
    decided = sum(v[0] for k, v in cells.items() if k in DECIDED)
    if decided < min_events:
        return None
    return sum(v[0] for k, v in cells.items() if k in FAILED) / decided


def _floor(metric: str, median: float) -> float:
    """The least spread a baseline is given: 10 % of its median, and one file (or 2 points of
    failure rate)."""
    absolute = {"files": 1.0, "bytes": 1.0, "failure_rate": 0.02}[metric]
    return max(absolute, 0.1 * abs(median))


def judge(
    reader: RollupReader,
    now: datetime,
    metric: str,
    by: str,
    weeks: int,
    min_weeks: int,
    min_events: int = 1,
) -> list[Judgement]:
    """The last complete hour before ``now`` of each group, scored against its baseline."""
    slot = hour_of(now) - timedelta(hours=1)
    first = reader.first_hour()
    if first is None:
        return []
    history = [slot - k * WEEK for k in range(1, weeks + 1) if slot - k * WEEK >= first]
    if len(history) < min_weeks:
        return []
    cells: dict[str, dict[datetime, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    )
    for hour, group, key, n, total in reader.at_hours([slot, *history], ["outcome"], by):
        cell = cells[group][hour][key]
        cell[0] += n
        cell[1] += total
    out = []
    for group, hours in sorted(cells.items()):
        value = _value(metric, hours.get(slot, {}), min_events)
        past = [_value(metric, hours.get(h, {}), min_events) for h in history]
        known = [p for p in past if p is not None]
        if value is None or len(known) < min_weeks:
            continue
        med_guess = sorted(known)[len(known) // 2]
        score, med, scale = robust_score(value, known, _floor(metric, med_guess))
        out.append(Judgement(group, slot, value, med, scale, score, len(known)))
    return out
