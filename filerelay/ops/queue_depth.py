"""The queue-depth history: a sampler, run by the reconciler every pass, that records the
messages waiting in each broker queue of the deployment (the shared queue and every known
host's queue) once a minute, and the trend the API serves, downsampled per window.

The reconciler is one per deployment (a store lock), but a sample is keyed by queue and
minute, so a second sampler (a standby, a restart within the minute) only rewrites the row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from celery import Celery

from filerelay.errors import UsageError
from filerelay.settings import Settings
from filerelay.store import Store
from filerelay.store.queue_depths import DepthBucket, QueueDepthStore

log = structlog.get_logger("filerelay.queue_depth")

#: window → (length in minutes, bucket in minutes): at most 288 points each
WINDOWS = {"1h": (60, 1), "24h": (1440, 5), "7d": (10080, 60)}
PRUNE_EVERY_S = 3600.0
AGENTS_WITHIN = timedelta(days=1)


def epoch_minute(now_s: float) -> int:
    """The minute since the epoch that ``now_s`` (epoch seconds) falls in."""
    return int(now_s // 60)


class QueueDepthSampler:
    """Records ``depths()`` once per minute (call :meth:`tick` as often as you like) and
    deletes samples older than ``retention_s`` once an hour."""

    def __init__(
        self,
        store: QueueDepthStore,
        depths: Callable[[], dict[str, int]],
        retention_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.depths = depths
        self.retention_s = retention_s
        self.clock = clock
        self._sampled: int | None = None
        self._pruned_at: float | None = None

    def tick(self) -> bool:
        """Sample when this minute has no sample from here yet; True when it sampled."""
        now = self.clock()
        minute = epoch_minute(now)
        sampled = False
        if minute != self._sampled:
            self.store.record(minute, self.depths())
            self._sampled = minute
            sampled = True
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            gone = self.store.prune(epoch_minute(now - self.retention_s))
            if gone:
                log.debug("queue_depths_pruned", rows=gone)
        return sampled


def deployment_queues(settings: Settings, store: Store) -> list[str]:
    """The queues to sample: the shared one and the host queue of every agent heard from
    within a day (a host without a live worker keeps its files there)."""
    from filerelay.fleet.identity import host_queue

    hosts = sorted({r.agent for r in store.agents(datetime.now(UTC) - AGENTS_WITHIN) if r.agent})
    return [settings.queue, *(host_queue(settings.queue, a) for a in hosts)]


def build_sampler(settings: Settings, store: Store, app: Celery) -> QueueDepthSampler:
    """A sampler of the deployment's queues on the broker of the Celery ``app``."""
    from filerelay.ops.status import queue_depths

    def depths() -> dict[str, int]:
        measured = queue_depths(app, deployment_queues(settings, store))
        return {q: d for q, d in measured.items() if d is not None}

    retention_s = settings.queue_depth_retention_days * 86400
    return QueueDepthSampler(QueueDepthStore(store.engine), depths, retention_s)


@dataclass(frozen=True)
class DepthHistory:
    """The trend of one window: bucket length, the queues seen, and the buckets."""

    window: str
    bucket_s: int
    queues: list[str]
    buckets: list[DepthBucket]

    def as_json(self) -> dict[str, object]:
        return {
            "window": self.window,
            "bucket_s": self.bucket_s,
            "queues": self.queues,
            "points": [
                {
                    "t": datetime.fromtimestamp(b.minute * 60, UTC).isoformat(),
                    "total": b.total,
                    "by_queue": b.by_queue,
                }
                for b in self.buckets
            ],
        }


def history(store: QueueDepthStore, window: str, now_s: float | None = None) -> DepthHistory:
    """The queue-depth trend over ``window`` (1h, 24h or 7d): each bucket's deepest total and
    each queue's deepest."""
    if window not in WINDOWS:
        raise UsageError(f"window: {window!r} is not one of {', '.join(WINDOWS)}")
    length, bucket = WINDOWS[window]
    now_minute = epoch_minute(time.time() if now_s is None else now_s)
    since = (now_minute - length + 1) // bucket * bucket
    buckets = store.buckets(since, bucket)
    queues = sorted({q for b in buckets for q in b.by_queue})
    return DepthHistory(window, bucket * 60, queues, buckets)


def prune(settings: Settings, store: Store, now_s: float | None = None) -> int:
    """Delete the samples older than ``FILERELAY_QUEUE_DEPTH_RETENTION_DAYS`` (``db prune``)."""
    now = time.time() if now_s is None else now_s
    before = epoch_minute(now - settings.queue_depth_retention_days * 86400)
    return QueueDepthStore(store.engine).prune(before)
