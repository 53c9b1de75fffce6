"""``filerelay_breaker_state``: each destination's circuit breaker, read from the store at
scrape time (the breakers live there, shared by every worker), at most every ``ttl_s``.

One sample per destination and state, 1 for the state it is in (the enum pattern): alert on
``filerelay_breaker_state{state="open"} == 1``. A store that cannot be read gives no samples
(and one warning), never a failed scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from filerelay.metrics.registry import BREAKER_STATE
from filerelay.store.limits import BREAKER_STATES, BreakerRow

log = structlog.get_logger("filerelay.metrics")


class BreakerStateCollector(Collector):
    """The breakers ``read()`` returns, as ``filerelay_breaker_state{destination,state}``."""

    def __init__(self, read: Callable[[], list[BreakerRow]], ttl_s: float = 2.0) -> None:
        self.read = read
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._rows: list[BreakerRow] = []
        self._read_at = float("-inf")
        self._failing = False

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [self._family([])]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl_s:
                self._refresh()
            return [self._family(self._rows)]

    def _refresh(self) -> None:
        self._read_at = time.monotonic()
        try:
            self._rows = self.read()
            self._failing = False
        except Exception as exc:
            if not self._failing:
                log.warning("metrics_breakers_failed", error=str(exc).splitlines()[0][:300])
            self._rows, self._failing = [], True

    @staticmethod
    def _family(rows: list[BreakerRow]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            BREAKER_STATE,
            "1 for the state each destination's circuit breaker is in (closed, open, "
            "half_open), read from the store at scrape time.",
            labels=["destination", "state"],
        )
        for row in rows:
            for state in BREAKER_STATES:
                family.add_metric([row.destination, state], float(row.state == state))
        return family


def breaker_collector(database_url: str) -> BreakerStateCollector:
    """The collector of the store at ``database_url`` (its engine built at the first scrape)."""
    holder: list[Callable[[], list[BreakerRow]]] = []

    def read() -> list[BreakerRow]:
        if not holder:
            from filerelay.store import make_engine
            from filerelay.store.limits import LimitStore

            holder.append(LimitStore(make_engine(database_url)).breakers)
        return holder[0]()

    return BreakerStateCollector(read)
