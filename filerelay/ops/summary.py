"""The dashboard's numbers over a window (``summary?window=1h|24h|7d``): counts by state,
success rate, failures by route and by error class, stuck files, queue depth, and series of
throughput and latency percentiles per time bucket."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from filerelay.errors import UsageError
from filerelay.store.overview import OverviewStore
from filerelay.store.rows import PendingEvent

#: window → (length, bucket of the series): one point a minute for an hour, coarser beyond
WINDOWS = {
    "1h": (timedelta(hours=1), 60),
    "24h": (timedelta(hours=24), 600),
    "7d": (timedelta(days=7), 3600),
}
STUCK_AFTER = timedelta(minutes=15)
_CLASS_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?::|$)")
_STEP_PREFIX = re.compile(r"^step [^:]*: ")


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
    if not error:
        return "unknown"
    match = _CLASS_RE.match(_STEP_PREFIX.sub("", error.strip()))
    return match.group(1) if match else "other"


def parse_window(value: str) -> tuple[timedelta, int]:
    """A window name → (length, bucket seconds); :class:`UsageError` naming the choices."""
    try:
        return WINDOWS[value]
    except KeyError:
        raise UsageError(f"window: {value!r} is not one of {', '.join(WINDOWS)}") from None


def _percentile(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    index = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return round(sorted_ms[index], 1)


def series(
    rows: list[tuple[int, str, float]], since: datetime, bucket_s: int, until: datetime
) -> list[Point]:
    """Throughput and latency per bucket from (bucket number, state, latency ms) rows."""
    first = int(since.timestamp()) // bucket_s
    start = first * bucket_s
    count = int(until.timestamp() - start) // bucket_s + 1
    ok = [0] * count
    bad = [0] * count
    lat: list[list[float]] = [[] for _ in range(count)]
    for bucket, state, latency_ms in rows:
        i = bucket - first
        if not 0 <= i < count:
            continue
        if state == "succeeded":
            ok[i] += 1
        else:
            bad[i] += 1
        lat[i].append(latency_ms)
    points = []
    for i in range(count):
        ms = sorted(lat[i])
        at = datetime.fromtimestamp(start + i * bucket_s, UTC)
        points.append(
            Point(
                at,
                ok[i],
                bad[i],
                _percentile(ms, 0.5),
                _percentile(ms, 0.95),
                _percentile(ms, 0.99),
            )
        )
    return points


def summarize(store: OverviewStore, window: str, queue_depth: int | None = None) -> Summary:
    """The summary of the last ``window``."""
    length, bucket_s = parse_window(window)
    now = datetime.now(UTC)
    since = now - length
    counts = store.counts_since(since)
    done = counts.get("succeeded", 0) + counts.get("failed", 0)
    failures = store.failures_since(since)
    stuck, oldest = store.stuck(now - STUCK_AFTER)
    return Summary(
        window=window,
        since=since,
        bucket_s=bucket_s,
        counts=counts,
        success_rate=round(counts.get("succeeded", 0) / done, 4) if done else None,
        failures_by_route=dict(Counter(route for route, _ in failures).most_common()),
        failures_by_class=dict(Counter(error_class(e) for _, e in failures).most_common()),
        stuck=stuck,
        stuck_after_s=STUCK_AFTER.total_seconds(),
        oldest_pending=oldest,
        queue_depth=queue_depth,
        series=series(store.finished_buckets(since, bucket_s), since, bucket_s, now),
    )


def as_json(summary: Summary) -> dict[str, Any]:
    """The summary as plain JSON-able data."""
    out = dict(summary.__dict__)
    out["oldest_pending"] = summary.oldest_pending.to_json() if summary.oldest_pending else None
    out["series"] = [p.__dict__ for p in summary.series]
    return out
