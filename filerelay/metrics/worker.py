"""The worker's metrics hook: step runs, durations, attempts, bytes, end-to-end latency.

:class:`WorkerMetricsHook` is a :class:`~filerelay.pipeline.hooks.StepHooks`: the runner calls
it where a step's outcome is decided. It runs in whichever process runs the step (a prefork
child writes to its own multiprocess files).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from filerelay.metrics.registry import WorkerMetrics
from filerelay.model import FileEvent, JSONDict, StepPhase
from filerelay.pipeline.hooks import FAILED, SUCCEEDED, StepHooks
from filerelay.store import ClaimedStep
from filerelay.store.limits import OPEN

STARTS_MEMORY = 10_000
EVENTS_MEMORY = 10_000
"""Finished event ids remembered, so an event reported finished twice in this process (two
parallel branches advancing at once) is observed once."""


class WorkerMetricsHook(StepHooks):
    """Updates :class:`WorkerMetrics` from the runner's outcomes."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics
        self._started: dict[tuple[int, int], float] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def step_started(self, claim: ClaimedStep) -> None:
        if len(self._started) > STARTS_MEMORY:  # starts whose end never came (store errors)
            self._started.clear()
        self._started[(claim.step_id, claim.attempt)] = time.monotonic()

    def step_finished(self, claim: ClaimedStep, outcome: str, result: JSONDict | None) -> None:
        m = self.metrics
        m.step_runs.labels(claim.action, claim.route, claim.phase, outcome).inc()
        started = self._started.pop((claim.step_id, claim.attempt), None)
        if started is not None:
            m.step_duration.labels(claim.action).observe(time.monotonic() - started)
        if outcome not in (SUCCEEDED, FAILED):
            return
        m.step_attempts.labels(claim.action).observe(claim.attempt)
        if claim.phase != StepPhase.MAIN:
            m.compensations.labels(claim.route, claim.phase, outcome).inc()
        size = uploaded_size(result)
        if size:
            m.uploaded_bytes.labels(claim.action).inc(size)

    def event_finished(self, event: FileEvent, state: str) -> None:
        with self._lock:
            if event.event_id in self._finished:
                return
            self._finished[event.event_id] = None
            if len(self._finished) > EVENTS_MEMORY:
                self._finished.popitem(last=False)
        latency = max(0.0, time.time() - event.detected_at)
        self.metrics.end_to_end.labels(event.source, state).observe(latency)

    def rate_waited(self, destination: str, seconds: float) -> None:
        self.metrics.rate_wait.labels(destination).inc(seconds)

    def step_deferred(self, claim: ClaimedStep, destination: str, reason: str) -> None:
        self.metrics.deferred.labels(destination, reason).inc()

    def breaker_changed(self, destination: str, state: str) -> None:
        if state == OPEN:
            self.metrics.breaker_opens.labels(destination).inc()

    def task_started(self, task: str) -> None:
        self.metrics.tasks_running.labels(task).inc()

    def task_ended(self, task: str) -> None:
        self.metrics.tasks_running.labels(task).dec()


def uploaded_size(result: JSONDict | None) -> int:
    """Bytes a step's result says it uploaded: ``size`` when ``uploaded`` is true (an s3
    step that found the object in place uploaded nothing)."""
    if not result or result.get("uploaded") is not True:
        return 0
    size: Any = result.get("size")
    return size if isinstance(size, int) and size > 0 else 0
