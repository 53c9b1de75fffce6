"""Ingest batches: several stable files in one ``filerelay.ingest_batch`` message when the
watcher has a backlog (one ``filerelay.ingest`` per file when idle).

A Celery message costs a worker about 2 ms of CPU on a 2-core machine (the consumer, task
events, the late ack), as much as recording, routing and copying a small file. With a backlog
the watcher's publisher hands over many events at once; :func:`chunks` cuts them into batches
of at most ``FILERELAY_INGEST_BATCH`` events (spread so that every worker process gets one),
and the worker records every event of a batch in one store transaction (each exactly as a
single ingest records it), then starts each file's pipelines in turn. Each file keeps its own
rows, inline first step, lease, retries and timeline; only the broker message and the
recording transaction are shared. Flower shows a batch's files in its ``argsrepr``.

Time limits. A single ingest's soft time limit is the longest first-step timeout
(:func:`filerelay.pipeline.inline.inline_step_s`), which bounds the first step run inside it.
A batch carries that limit as ``inline_s`` and applies it to the recording, then to each
event in turn (a ``SIGALRM`` timer in the prefork child that runs it, raising the same
:class:`~celery.exceptions.SoftTimeLimitExceeded`); the task's hard limit is their sum plus
the kill margin. A store outage while recording re-sends the whole batch, with backoff; one
later re-sends the events not yet started (recorded already: their redelivery hands out
their unclaimed steps, and a first step claimed for the batch is re-driven by the reconciler
once its lease lapses); the ones before it are done.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from celery import Celery
from celery.app.task import Task
from celery.exceptions import SoftTimeLimitExceeded

from filerelay.errors import ConfigError, StoreError
from filerelay.model import FileEvent
from filerelay.pipeline.messages import StepMessage
from filerelay.pipeline.runner import prepare, started
from filerelay.pipeline.runtime import RuntimeHolder
from filerelay.tasks.names import INGEST_BATCH

log = structlog.get_logger("filerelay.tasks")

#: Hard time limit past a batch's summed soft limits (as for a single ingest).
KILL_AFTER_S = 20.0
#: Backoff cap when the store is unreachable (as for a single ingest).
UNAVAILABLE_MAX_BACKOFF_S = 30.0
#: Batches a publish is spread over at least, so that two worker processes both get work.
SPREAD = 4


def chunks(events: Sequence[FileEvent], max_batch: int) -> list[list[FileEvent]]:
    """Cut a publish batch into ingest batches of at most ``max_batch`` events, and into at
    least :data:`SPREAD` of them where there are enough events: one event stays one."""
    if max_batch <= 1 or len(events) <= 1:
        return [[event] for event in events]
    size = max(1, min(max_batch, math.ceil(len(events) / SPREAD)))
    return [list(events[i : i + size]) for i in range(0, len(events), size)]


def batch_argsrepr(events: Sequence[FileEvent]) -> str:
    """What Flower and the logs show of a batch: each file's event id, source and path."""
    files = "; ".join(
        f"event_id={event.event_id} source={event.source} path={event.path}" for event in events
    )
    return f"{len(events)} files: {files}"


def send_ingest_batch(
    app: Celery,
    events: Sequence[FileEvent],
    queue: str,
    *,
    producer: Any = None,
    inline_step_s: float | None = None,
) -> None:
    """Publish one ``filerelay.ingest_batch`` task carrying ``events``."""
    # one share for recording the batch, one per event
    hard_s = (inline_step_s * (len(events) + 1) + KILL_AFTER_S) if inline_step_s else None
    app.send_task(
        INGEST_BATCH,
        args=[[event.to_message() for event in events]],
        kwargs={"inline_s": inline_step_s} if inline_step_s else {},
        queue=queue,
        producer=producer,
        time_limit=hard_s,
        retry=True,
        retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_max": 0.5},
        argsrepr=batch_argsrepr(events),
    )


def run_batch(
    task: Task,
    holder: RuntimeHolder,
    events: list[dict[str, Any]],
    inline_s: float | None,
    send: Callable[[list[StepMessage]], None],
) -> None:
    """Record every event of a batch in one transaction, then start each one's pipelines
    in turn (its first step run here), sending its next steps as it ends."""
    try:
        with time_limit(inline_s):
            runtime = holder.get()
            prepared = [
                prepare(runtime, FileEvent.from_message(message), None, inline_s)
                for message in events
            ]
            admitted = runtime.store.admit_many([(p.event, p.verdict, p.inline) for p in prepared])
    except (StoreError, ConfigError, SoftTimeLimitExceeded) as exc:
        _retry_rest(task, events, inline_s, exc)
    for index, (ready, admission) in enumerate(zip(prepared, admitted, strict=True)):
        event = ready.event
        try:
            with (
                structlog.contextvars.bound_contextvars(
                    event_id=event.event_id, source=event.source
                ),
                time_limit(inline_s),
            ):
                outcome = started(runtime, ready, admission, None, send)
        except (StoreError, ConfigError, SoftTimeLimitExceeded) as exc:
            # the rest are recorded: their redelivery sends their unclaimed steps, and a
            # first step claimed for here is re-driven once its lease lapses
            _retry_rest(task, events[index:], inline_s, exc)
        send(outcome.enqueue)


def _retry_rest(
    task: Task, rest: list[dict[str, Any]], inline_s: float | None, exc: Exception
) -> None:
    """The store unreachable is not the files' fault: send the rest of the batch again later."""
    retries = task.request.retries or 0
    countdown = min(UNAVAILABLE_MAX_BACKOFF_S, 2.0 ** min(retries, 6))
    log.warning(
        "task_deferred",
        reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        retry_in_s=countdown,
        files=len(rest),
    )
    kwargs = {"inline_s": inline_s} if inline_s else {}
    raise task.retry(
        args=[rest], kwargs=kwargs, exc=exc, countdown=countdown, max_retries=None
    ) from None


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`SoftTimeLimitExceeded` in this thread after ``seconds`` (one event's
    share of a batch). Only the main thread can take a signal: elsewhere (the threads pool,
    which has no time limits either) nothing is armed."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: Any) -> None:
        raise SoftTimeLimitExceeded(f"soft time limit ({seconds:g} s) exceeded")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
