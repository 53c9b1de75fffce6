"""Gauges read at scrape time: the broker queue depth, cached and bounded in time.

A scrape must stay cheap and must not fail when the broker is down: the depth is fetched at
most every ``ttl_s`` on a background thread; a scrape waits for that fetch at most
``timeout_s`` (then shows the last known values), and not at all while the broker is known to
be down; ``filerelay_broker_up`` says whether the last fetch reached the broker (no depth
samples while it did not).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from filerelay.metrics.registry import BROKER_UP, QUEUE_DEPTH

log = structlog.get_logger("filerelay.metrics")

DepthFn = Callable[[str], int]


class QueueDepthCollector(Collector):
    """``filerelay_queue_depth{queue}`` and ``filerelay_broker_up`` for the given queues."""

    def __init__(
        self,
        depth_of: DepthFn,
        queues: Sequence[str],
        *,
        ttl_s: float = 2.0,
        timeout_s: float = 1.0,
    ) -> None:
        self.depth_of = depth_of
        self.queues = list(queues)
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._depths: dict[str, int] = {}
        self._up = False
        self._fetched_at = float("-inf")
        self._fetch: threading.Thread | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families({}, False)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            stale = time.monotonic() - self._fetched_at >= self.ttl_s
            fetch = None
            if stale and (self._fetch is None or not self._fetch.is_alive()):
                fetch = self._fetch = threading.Thread(
                    target=self._refresh, name="queue-depth", daemon=True
                )
                fetch.start()
            # wait for a fresh value only while the broker answered last time: when it is
            # down, a scrape shows the outage at once instead of waiting on each connect
            wait = fetch is not None and (self._up or self._fetched_at == float("-inf"))
        if wait and fetch is not None:
            fetch.join(self.timeout_s)
        with self._lock:
            return self._families(dict(self._depths), self._up)

    def _refresh(self) -> None:
        try:
            depths = {queue: int(self.depth_of(queue)) for queue in self.queues}
            up = True
        except Exception as exc:
            if self._up or self._fetched_at == float("-inf"):
                log.warning("metrics_queue_depth_failed", error=str(exc).splitlines()[0][:300])
            depths, up = {}, False
        with self._lock:
            self._depths, self._up, self._fetched_at = depths, up, time.monotonic()

    @staticmethod
    def _families(depths: dict[str, int], up: bool) -> list[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            QUEUE_DEPTH,
            "Messages waiting in the broker queue (read at scrape time).",
            labels=["queue"],
        )
        for queue, value in sorted(depths.items()):
            depth.add_metric([queue], value)
        reachable = GaugeMetricFamily(
            BROKER_UP, "1 if the last queue-depth read reached the broker, else 0.", value=int(up)
        )
        return [depth, reachable]
