"""The dashboard's numbers over a window (``summary?window=1h|24h|7d``): counts by state,
success rate, failures by route and by error class, stuck files, queue depth, and series of
throughput and latency percentiles per time bucket.

Read from the summary rollups (:mod:`filerelay.store.summary_rollups`): counts are exact;
latency percentiles are the upper bound of a log-scale bin (at most 25 % above the value)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from filerelay.buckets import LATENCY_BOUNDS
from filerelay.errors import UsageError
from filerelay.store import summary_rollups
from filerelay.store.overview import Cell, OverviewStore
from filerelay.store.rows import PendingEvent

#: window → (length, bucket of the series): one point a minute for an hour, coarser beyond
WINDOWS = {
    "1h": (timedelta(hours=1), 60),
    "24h": (timedelta(hours=24), 600),
    "7d": (timedelta(days=7), 3600),
}
STUCK_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Point:
    """One bucket of the series: its start, files finished, failed, latency percentiles (ms)."""

    at: datetime
    succeeded: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass
class Summary:
    """Everything ``summary`` shows."""

    window: str
    since: datetime
    bucket_s: int
    counts: dict[str, int]
    success_rate: float | None
    failures_by_route: dict[str, int]
    failures_by_class: dict[str, int]
    stuck: int
    stuck_after_s: float
    oldest_pending: PendingEvent | None
    queue_depth: int | None
    series: list[Point] = field(default_factory=list)


def error_class(error: str | None) -> str:
    """The error's class: the exception name it starts with (``ClientError: …``, after the
    pipeline's ``step NAME:`` prefix), or ``other``."""
    return summary_rollups.error_class(error)


def parse_window(value: str) -> tuple[timedelta, int]:
    """A window name → (length, bucket seconds); :class:`UsageError` naming the choices."""
    try:
        return WINDOWS[value]
    except KeyError:
        raise UsageError(f"window: {value!r} is not one of {', '.join(WINDOWS)}") from None


def percentile(bins: dict[str, int], q: float) -> float | None:
    """The ``q`` percentile (ms) of a latency histogram (bin upper bound in seconds → count):
    the upper bound of the bin holding the value of rank ``round(q * (n - 1))``, as the
    exact percentile of a sorted list picks it; None for an empty histogram. ``inf`` (beyond
    the last bound) reads as the last bound."""
    n = sum(bins.values())
    if not n:
        return None
    rank = min(n - 1, max(0, round(q * (n - 1))))
    seen = 0
    for bound in sorted(bins, key=float):
        seen += bins[bound]
        if seen > rank:
            seconds = float(bound) if bound != "inf" else LATENCY_BOUNDS[-1]
            return round(seconds * 1000.0, 1)
    return None  # pragma: no cover - the loop always reaches n > rank


def series(cells: list[Cell], since: datetime, bucket_s: int, until: datetime) -> list[Point]:
    """Throughput and latency per bucket from rollup cells (bucket number, kind, key, n, total)."""
    first = int(since.timestamp()) // bucket_s
    start = first * bucket_s
    count = int(until.timestamp() - start) // bucket_s + 1
    ok = [0] * count
    bad = [0] * count
    lat: list[dict[str, int]] = [{} for _ in range(count)]
    for bucket, kind, key, n, _total in cells:
        i = bucket - first
        if not 0 <= i < count:
            continue
        if kind == "state" and key == "succeeded":
            ok[i] += n
        elif kind == "state" and key == "failed":
            bad[i] += n
        elif kind == "latency":
            lat[i][key] = lat[i].get(key, 0) + n
    return [
        Point(
            datetime.fromtimestamp(start + i * bucket_s, UTC),
            ok[i],
            bad[i],
            percentile(lat[i], 0.5),
            percentile(lat[i], 0.95),
            percentile(lat[i], 0.99),
        )
        for i in range(count)
    ]


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(counter.most_common())


def summarize(store: OverviewStore, window: str, queue_depth: int | None = None) -> Summary:
    """The summary of the last ``window``, from its first whole minute to now.

    Finished events come from the summary rollups (minute rows, and hour rows for whole
    hours of the 7-day window), kept as each event finishes, so no event row is read; the
    events not finished yet are counted live on the (state, created_at) index, and the
    stuck count and oldest pending event are index probes."""
    length, bucket_s = parse_window(window)
    now = datetime.now(UTC)
    since = (now - length).replace(second=0, microsecond=0)
    cells = store.rollup_cells(int(since.timestamp()), int(now.timestamp()), bucket_s)
    totals: dict[str, Counter[str]] = {"state": Counter(), "route": Counter(), "error": Counter()}
    for _b, kind, key, n, _t in cells:
        if kind in totals:
            totals[kind][key] += n
    counts = dict(totals["state"])
    counts.update(store.open_counts(since))
    done = counts.get("succeeded", 0) + counts.get("failed", 0)
    stuck, oldest = store.stuck(now - STUCK_AFTER)
    return Summary(
        window=window,
        since=since,
        bucket_s=bucket_s,
        counts=counts,
        success_rate=round(counts.get("succeeded", 0) / done, 4) if done else None,
        failures_by_route=_ranked(totals["route"]),
        failures_by_class=_ranked(totals["error"]),
        stuck=stuck,
        stuck_after_s=STUCK_AFTER.total_seconds(),
        oldest_pending=oldest,
        queue_depth=queue_depth,
        series=series(cells, since, bucket_s, now),
    )


def as_json(summary: Summary) -> dict[str, Any]:
    """The summary as plain JSON-able data."""
    out = dict(summary.__dict__)
    out["oldest_pending"] = summary.oldest_pending.to_json() if summary.oldest_pending else None
    out["series"] = [p.__dict__ for p in summary.series]
    return out
