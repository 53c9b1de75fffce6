"""The watcher's metrics hook: counts what the watcher reports, reads its state at scrape time.

:class:`WatcherMetricsHook` is both a :class:`~filerelay.watcher.hooks.WatcherHooks` (the
watcher calls it) and a collector (registered in the served registry): the pending-file and
outbox-depth gauges are read from the running watcher when Prometheus scrapes, so the
watcher's loop pays nothing for them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from filerelay.metrics.registry import OUTBOX_DEPTH, PENDING_FILES, WatcherMetrics
from filerelay.model import FileEvent
from filerelay.watcher.hooks import WatcherHooks

SPOOLED_MEMORY = 100_000
"""Event ids remembered so an event refused several times is counted as spooled once."""


class WatcherMetricsHook(WatcherHooks):
    """Updates :class:`WatcherMetrics`; collects the live gauges of the current watcher."""

    def __init__(self, metrics: WatcherMetrics) -> None:
        self.metrics = metrics
        self._watcher: Any = None
        self._spooled: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    # --- hooks --------------------------------------------------------------------------

    def watcher_started(self, watcher: Any) -> None:
        self._watcher = watcher

    def files_stable(self, source: str, count: int) -> None:
        self.metrics.detected.labels(source).inc(count)

    def events_emitted(self, source: str, events: Sequence[FileEvent]) -> None:
        if not events:
            return
        self.metrics.emitted.labels(source).inc(len(events))
        histogram = self.metrics.write_to_emit.labels(source)
        for event in events:
            histogram.observe(max(0.0, event.detected_at - event.mtime_ns / 1e9))

    def publish_refused(self, events: Sequence[FileEvent]) -> None:
        fresh: dict[str, int] = {}
        with self._lock:  # the publisher thread only, but cheap to make safe
            for event in events:
                if event.event_id in self._spooled:
                    continue
                self._spooled[event.event_id] = None
                fresh[event.source] = fresh.get(event.source, 0) + 1
            while len(self._spooled) > SPOOLED_MEMORY:
                self._spooled.popitem(last=False)
        for source, count in fresh.items():
            self.metrics.spooled.labels(source).inc(count)

    def rescanned(self, source: str, reason: str) -> None:
        self.metrics.rescans.labels(source, reason).inc()

    def observer_error(self, source: str, kind: str, count: int = 1) -> None:
        self.metrics.errors.labels(source, kind).inc(count)

    # --- collector ----------------------------------------------------------------------

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families(None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return self._families(self._watcher)

    @staticmethod
    def _families(watcher: Any) -> list[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            PENDING_FILES, "Files waiting to become stable.", labels=["source"]
        )
        depth = GaugeMetricFamily(
            OUTBOX_DEPTH, "Events in the outbox, not yet accepted by the broker."
        )
        if watcher is not None:
            for name, sw in list(watcher.sources.items()):
                pending.add_metric([name], len(sw.detector))
            outbox = watcher.outbox
            depth.add_metric([], outbox.depth() if outbox is not None else 0)
        return [pending, depth]
