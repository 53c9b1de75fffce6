"""The limits' metrics: what the worker hook counts, and the breaker state read from the
store at scrape time (a store that cannot be read gives no samples, not a failed scrape)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from filerelay.metrics.breakers import BreakerStateCollector, breaker_collector
from filerelay.metrics.registry import worker_metrics
from filerelay.metrics.worker import WorkerMetricsHook
from filerelay.store import make_engine
from filerelay.store.db import utcnow
from filerelay.store.limits import LimitStore
from tests.conftest import migrated_sqlite
from tests.metrics.test_hooks import claim


def test_hook_counts_waits_deferrals_and_opens() -> None:
    # given the worker's metrics hook
    registry = CollectorRegistry()
    hook = WorkerMetricsHook(worker_metrics(registry))
    # when a step waited, two were deferred and a breaker opened then closed
    hook.rate_waited("host:h", 0.25)
    hook.step_deferred(claim(), "host:h", "breaker")
    hook.step_deferred(claim(), "host:h", "breaker")
    hook.breaker_changed("host:h", "open")
    hook.breaker_changed("host:h", "closed")
    # then each is counted under its destination
    value = registry.get_sample_value
    assert value("filerelay_rate_limit_wait_seconds_total", {"destination": "host:h"}) == 0.25
    labels = {"destination": "host:h", "reason": "breaker"}
    assert value("filerelay_steps_deferred_total", labels) == 2
    assert value("filerelay_breaker_opens_total", {"destination": "host:h"}) == 1


def test_breaker_state_is_read_from_the_store_at_scrape_time(tmp_path: Path) -> None:
    # given a store where one destination's breaker is open
    url = migrated_sqlite(tmp_path / "store.db")
    engine = make_engine(url)
    LimitStore(engine).breaker_failure("connection:s3", "w1", utcnow(), 1, 60, "timeout")
    registry = CollectorRegistry()
    registry.register(breaker_collector(url))
    # when scraped / then it is 1 in state open, 0 in the others
    value = registry.get_sample_value
    assert value("filerelay_breaker_state", {"destination": "connection:s3", "state": "open"}) == 1
    closed = {"destination": "connection:s3", "state": "closed"}
    assert value("filerelay_breaker_state", closed) == 0
    engine.dispose()


def test_an_unreadable_store_gives_no_samples() -> None:
    # given a collector whose store read fails
    def broken() -> list[object]:
        raise OSError("store down")

    registry = CollectorRegistry()
    registry.register(BreakerStateCollector(broken))  # type: ignore[arg-type]
    # when scraped / then the family is there, empty, and the scrape did not fail
    families = {f.name: f for f in registry.collect()}
    assert families["filerelay_breaker_state"].samples == []
