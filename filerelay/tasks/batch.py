"""Ingest batches: several stable files in one ``filerelay.ingest_batch`` message when the
watcher has a backlog (one ``filerelay.ingest`` per file when idle).

A Celery message costs a worker about 2 ms of CPU on a 2-core machine (the consumer, task
events, the late ack), as much as recording, routing and copying a small file. With a backlog
the watcher's publisher hands over many events at once; :func:`chunks` cuts them into batches
of at most ``FILERELAY_INGEST_BATCH`` events (spread so that every worker process gets one),
and the worker records every event of a batch in one store transaction (each exactly as a
single ingest records it), then starts each file's pipelines in turn, claiming its first
step. The claimed steps are then performed — side by side on a few threads when their action
says it may run so (an S3 upload below the multipart threshold: one client and connection
pool, PUTs in flight together as an upload tool's threads are), one after the other
otherwise — and their successes recorded in one transaction (each step completed and its
pipeline advanced exactly as alone). Each file keeps its own rows, inline first step, lease
(renewed until its outcome is recorded), retries and timeline; only the broker message and
the transactions are shared. Flower shows a batch's files in its ``argsrepr``.

Time limits. A single ingest's soft time limit is the longest first-step timeout
(:func:`filerelay.pipeline.inline.inline_step_s`), which bounds the first step run inside it.
A batch carries that limit as ``inline_s`` and applies it to the recording, then to each
event in turn (a ``SIGALRM`` timer in the prefork child that runs it, raising the same
:class:`~celery.exceptions.SoftTimeLimitExceeded`); the task's hard limit is their sum plus
the kill margin. Steps performed in threads take no signal: their own timeouts (the S3
client's connect and read timeouts) and the task's hard limit bound them. A store outage
while recording re-sends the whole batch, with backoff; one later re-sends the events whose
outcome is not recorded yet (recorded already: their redelivery hands out their unclaimed
steps, and a first step claimed for the batch is re-driven by the reconciler once its lease
lapses, its action idempotent); the ones before them are done.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import structlog
from celery import Celery
from celery.app.task import Task
from celery.exceptions import SoftTimeLimitExceeded

from filerelay.errors import ConfigError, StoreError
from filerelay.model import FileEvent
from filerelay.pipeline.messages import StepMessage
from filerelay.pipeline.runner import Running, begin_started, finish_steps, perform_step, prepare
from filerelay.pipeline.runtime import Runtime, RuntimeHolder
from filerelay.tasks.names import INGEST_BATCH

log = structlog.get_logger("filerelay.tasks")

#: Hard time limit past a batch's summed soft limits (as for a single ingest).
KILL_AFTER_S = 20.0
#: Backoff cap when the store is unreachable (as for a single ingest).
UNAVAILABLE_MAX_BACKOFF_S = 30.0
#: Batches a publish is spread over at least, so that two worker processes both get work.
SPREAD = 4
#: Events per message at least when a publish is spread (but a smaller whole publish): a
#: message costs a worker more than recording a few more files in it.
MIN_SPREAD = 8
#: Threads per process for a batch's steps that may run side by side (S3 PUTs), as many as
#: the boto3 pool the small_files benchmark compares with.
THREADS = 8
#: A batch's successes performed one after the other are recorded together, or once the
#: oldest of them has waited this long (a slow batch does not hold every file's end).
RECORD_WITHIN_S = 0.25


def chunks(
    events: Sequence[FileEvent], max_batch: int, spread: int = SPREAD
) -> list[list[FileEvent]]:
    """Cut a publish batch into ingest batches of at most ``max_batch`` events, and into at
    least ``spread`` of them where there are enough events for :data:`MIN_SPREAD` in each:
    one event stays one."""
    if max_batch <= 1 or len(events) <= 1:
        return [[event] for event in events]
    size = min(max_batch, max(MIN_SPREAD, math.ceil(len(events) / spread)))
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
    """Record every event of a batch in one transaction, start each one's pipelines (their
    first steps claimed), perform the claimed steps — those whose action allows it side by
    side in threads — and record their successes in one transaction, then send what follows."""
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
    held: list[tuple[int, Running]] = []  # performed or about to be, not recorded yet
    paced: list[tuple[int, Running]] = []  # performed at once, past their rate limit's gate
    first_paced = 0.0
    index = 0
    try:
        for index, (ready, admission) in enumerate(zip(prepared, admitted, strict=True)):
            with _event_context(ready.event), time_limit(inline_s):
                out, running = begin_started(runtime, ready, admission, None, send)
                if running is not None:
                    held.append((index, running))
                    if _paced(running):
                        perform_step(running)
                        paced.append((index, running))
                        first_paced = first_paced if len(paced) > 1 else time.monotonic()
            send(out.enqueue)
            if paced and time.monotonic() - first_paced >= RECORD_WITHIN_S:
                _record(runtime, held, paced, send)
        index = len(events)
        _perform_all(runtime, held, paced, inline_s, send)
    except (StoreError, ConfigError, SoftTimeLimitExceeded) as exc:
        # the rest are recorded: their redelivery sends their unclaimed steps, and a
        # first step claimed for here is re-driven once its lease lapses
        first = min([index, *(i for i, _ in held)])
        _retry_rest(task, events[first:], inline_s, exc)
    finally:
        for _, running in held:  # not recorded: no longer renewed, the lease lapses
            running.keeper.__exit__(None, None, None)


def _event_context(event: FileEvent) -> Any:
    return structlog.contextvars.bound_contextvars(event_id=event.event_id, source=event.source)


def _paced(running: Running) -> bool:
    """Whether the step's destination has a rate limit: its gate took a token for it, so it
    goes out at once. Held for the rest of the batch, steps whose tokens were taken one by one
    at the limit's spacing would reach the destination together (a burst of a whole batch
    per process: 80 requests in one second against a 20/s limit, measured)."""
    limits = running.gate.limits
    return limits is not None and limits.rate_per_s is not None


def _perform_all(
    runtime: Runtime,
    held: list[tuple[int, Running]],
    paced: list[tuple[int, Running]],
    inline_s: float | None,
    send: Callable[[list[StepMessage]], None],
) -> None:
    """Perform the batch's claimed steps (but the ``paced`` ones, performed already) and
    record them; ``held`` loses each entry as its outcome is recorded. Steps whose action says
    it may run beside others (an S3 upload below the multipart threshold) go to this
    process's :data:`THREADS` threads, sharing the action's client and its connection pool;
    the others run here one after the other, each under the batch's time limit per event.
    Successes are recorded together, at the end or once the oldest has waited
    :data:`RECORD_WITHIN_S`."""
    waiting = [(i, r) for i, r in held if all(r is not p for _, p in paced)]
    together = [(i, r) for i, r in waiting if r.concurrent()]
    if len(together) < 2:
        together = []  # one alone runs here, under its time limit
    list(_pool().map(perform_step, [r for _, r in together]))
    performed = [*paced, *together]
    alone = [(i, r) for i, r in waiting if all(r is not t for _, t in together)]
    oldest = time.monotonic()
    for index, running in alone:
        with _event_context(running.claim.event), time_limit(inline_s):
            perform_step(running)
        performed.append((index, running))
        if time.monotonic() - oldest >= RECORD_WITHIN_S:
            _record(runtime, held, performed, send)
            oldest = time.monotonic()
    _record(runtime, held, performed, send)


def _record(
    runtime: Runtime,
    held: list[tuple[int, Running]],
    performed: list[tuple[int, Running]],
    send: Callable[[list[StepMessage]], None],
) -> None:
    """Record the performed steps' outcomes in one transaction and send what follows."""
    if not performed:
        return
    performed.sort(key=lambda pair: pair[0])
    outcomes = finish_steps(runtime, [r for _, r in performed])
    recorded = {id(r) for _, r in performed}
    held[:] = [(i, r) for i, r in held if id(r) not in recorded]
    performed.clear()
    for outcome in outcomes:
        send(outcome.enqueue)


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool() -> ThreadPoolExecutor:
    """This process's threads for a batch's side-by-side steps (a forked child makes its own)."""
    pid = os.getpid()
    pool = _POOLS.get(pid)
    if pool is None:
        _POOLS.clear()
        pool = _POOLS[pid] = ThreadPoolExecutor(THREADS, thread_name_prefix="batch-step")
    return pool


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
