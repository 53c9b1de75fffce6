"""The metric hooks, unit by unit: what each runner or watcher call adds, and that a failing
hook never reaches the caller."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from filerelay.metrics.collectors import QueueDepthCollector
from filerelay.metrics.registry import watcher_metrics, worker_metrics
from filerelay.metrics.watcher import WatcherMetricsHook
from filerelay.metrics.worker import WorkerMetricsHook, uploaded_size
from filerelay.model import FileEvent
from filerelay.pipeline.hooks import StepHookList, StepHooks
from filerelay.store import ClaimedStep
from filerelay.watcher.hooks import WatcherHookList, WatcherHooks
from tests.factories import file_event


def event(source: str = "drop", detected_at: float | None = None, **kw: object) -> FileEvent:
    now = time.time()
    return file_event(
        str(kw.get("relpath", "a.csv")),
        source=source,
        root="/in",
        size=3,
        mtime_ns=int((now - 2.0) * 1e9),
        detected_at=now if detected_at is None else detected_at,
    )


def claim(
    action: str = "s3", route: str = "up", attempt: int = 1, phase: str = "main"
) -> ClaimedStep:
    return ClaimedStep(
        step_id=7,
        pipeline_id=1,
        event_id="e1",
        event=event(),
        route=route,
        position=0,
        branch=0,
        name=f"0-{action}",
        action=action,
        attempt=attempt,
        max_attempts=5,
        idempotency_key="k",
        phase=phase,
    )


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def worker() -> tuple[CollectorRegistry, WorkerMetricsHook]:
    registry = CollectorRegistry()
    return registry, WorkerMetricsHook(worker_metrics(registry))


def test_a_step_counts_its_outcome_duration_attempts_and_bytes(worker) -> None:
    registry, hook = worker
    # given an s3 step that retried once, then uploaded 1,000 bytes
    step = claim()
    hook.step_started(step)
    hook.step_finished(step, "retry", None)
    second = claim(attempt=2)
    hook.step_started(second)
    hook.step_finished(second, "succeeded", {"uploaded": True, "size": 1000})
    # then
    runs = "filerelay_step_runs_total"
    labels = {"action": "s3", "route": "up", "phase": "main"}
    assert value(registry, runs, **labels, outcome="retry") == 1
    assert value(registry, runs, **labels, outcome="succeeded") == 1
    assert value(registry, "filerelay_step_duration_seconds_count", action="s3") == 2
    assert value(registry, "filerelay_step_attempts_count", action="s3") == 1  # at its end
    assert value(registry, "filerelay_step_attempts_sum", action="s3") == 2
    assert value(registry, "filerelay_uploaded_bytes_total", action="s3") == 1000


def test_compensation_steps_are_counted_by_kind_and_outcome(worker) -> None:
    registry, hook = worker
    hook.step_finished(claim(phase="undo"), "succeeded", {"undone": "0-s3"})
    hook.step_finished(claim(action="notify", phase="on_failure"), "failed", None)
    hook.step_finished(claim(phase="undo"), "retry", None)  # not an end
    name = "filerelay_compensations_total"
    assert value(registry, name, route="up", kind="undo", outcome="succeeded") == 1
    assert value(registry, name, route="up", kind="on_failure", outcome="failed") == 1
    assert value(registry, name, route="up", kind="undo", outcome="retry") == 0


def test_an_event_finished_twice_is_observed_once(worker) -> None:
    registry, hook = worker
    finished = event(detected_at=time.time() - 3.0)
    hook.event_finished(finished, "succeeded")
    hook.event_finished(finished, "succeeded")
    name = "filerelay_event_end_to_end_seconds"
    assert value(registry, f"{name}_count", source="drop", state="succeeded") == 1
    assert value(registry, f"{name}_sum", source="drop", state="succeeded") >= 3.0


@pytest.mark.parametrize(
    ("result", "size"),
    [
        ({"uploaded": True, "size": 5}, 5),
        ({"uploaded": False, "size": 5}, 0),  # the object was in place already
        ({"size": 5}, 0),  # a copy or an archive: not an upload
        (None, 0),
    ],
)
def test_uploaded_size(result, size) -> None:
    assert uploaded_size(result) == size


def test_watcher_hook_counts_and_spools_once() -> None:
    registry = CollectorRegistry()
    hook = WatcherMetricsHook(watcher_metrics(registry))
    events = [event(relpath=f"f{i}") for i in range(3)]
    hook.files_stable("drop", 3)
    hook.events_emitted("drop", events)
    hook.publish_refused(events)
    hook.publish_refused(events)  # the same batch tried again
    assert value(registry, "filerelay_watcher_files_detected_total", source="drop") == 3
    assert value(registry, "filerelay_watcher_events_emitted_total", source="drop") == 3
    assert value(registry, "filerelay_watcher_events_spooled_total", source="drop") == 3
    count = "filerelay_watcher_write_to_emit_seconds_count"
    assert value(registry, count, source="drop") == 3
    assert value(registry, "filerelay_watcher_write_to_emit_seconds_sum", source="drop") >= 6


class Broken(StepHooks, WatcherHooks):
    def step_finished(self, *_: object) -> None:
        raise RuntimeError("boom")

    def events_emitted(self, *_: object) -> None:
        raise RuntimeError("boom")


def test_a_failing_hook_is_logged_and_the_next_still_runs(worker) -> None:
    registry, hook = worker
    with capture_logs() as logs:
        StepHookList([Broken(), hook]).step_finished(claim(), "failed")
        WatcherHookList([Broken()]).events_emitted("drop", [event()])  # does not raise
    runs = "filerelay_step_runs_total"
    labels = {"action": "s3", "route": "up", "phase": "main", "outcome": "failed"}
    assert value(registry, runs, **labels) == 1
    failures = [(e["call"], e["log_level"]) for e in logs if e["event"] == "hook_failed"]
    assert failures == [("step_finished", "error"), ("events_emitted", "error")]


def test_queue_depth_is_cached_and_a_slow_or_down_broker_does_not_hold_the_scrape() -> None:
    calls: list[str] = []
    release = threading.Event()

    def depth(queue: str) -> int:
        calls.append(queue)
        if len(calls) > 1:
            release.wait(5)
            raise ConnectionError("broker down")
        return 4

    registry = CollectorRegistry()
    registry.register(QueueDepthCollector(depth, ["q"], ttl_s=0.2, timeout_s=0.1))
    # a first scrape reads it; a second at once comes from the cache
    assert value(registry, "filerelay_queue_depth", queue="q") == 4
    assert value(registry, "filerelay_broker_up") == 1
    assert len(calls) == 1
    # when the broker hangs, a scrape returns within its timeout with the last values
    time.sleep(0.25)
    started = time.monotonic()
    assert value(registry, "filerelay_queue_depth", queue="q") == 4
    assert time.monotonic() - started < 1.0
    # and once the read failed, the depth is gone and the broker reported down
    release.set()
    time.sleep(0.1)
    assert registry.get_sample_value("filerelay_queue_depth", {"queue": "q"}) is None
    assert value(registry, "filerelay_broker_up") == 0
    # while it is down, a scrape does not wait for the next (hanging) read at all
    release.clear()
    time.sleep(0.25)
    started = time.monotonic()
    assert value(registry, "filerelay_broker_up") == 0
    assert time.monotonic() - started < 0.05
    release.set()
