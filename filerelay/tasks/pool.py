"""A prefork pool that lets its processes exit after a quiet spell and forks them again for
the next task (``FILERELAY_WORKER_IDLE_EXIT_S``): an idle worker is then its main process
alone.

This is the pool of a worker on the embedded broker, where Celery drives billiard's threaded
pool: one in-queue shared by every process, read in turn. A process is asked to leave by a
job of the pool's own, put in that queue like any other: whichever process takes it leaves
once it has handed back the job before it, so a file's job is never in a process that is
leaving, and one queued behind the leave jobs waits there for the processes forked next.
(Celery's own shrink, the autoscaler's, SIGTERMs a process it believes idle, which can hold a
job it has just taken from the queue. billiard's per-process exit event is read only after a
job, never while a process waits for one.)

The number of processes moves between all and none, under one lock shared with billiard's
supervisor (which replaces the processes that exited): the pool rests when no job has been in
it, nor on its way in (Celery waiting for a free slot), for the whole spell, and wakes when
Celery hands it a job, before the job waits for a slot. A leave job carries the rest it
belongs to; once the pool has woken, one still queued is passed over by the process that
takes it. A process that left notes its pid, so that a wake forks its successor at once
rather than when billiard has seen it go (up to 0.8 s).
"""

from __future__ import annotations

import os
import sys
import threading
from time import monotonic
from typing import Any

import structlog
from billiard import get_context
from billiard.pool import EX_OK, RUN, TASK, Worker, job_counter
from billiard.pool import Pool as BlockingPool
from celery.concurrency.prefork import TaskPool

log = structlog.get_logger("filerelay.tasks")

#: What the pool's processes inherit when they are forked, under one lock: the pool's
#: current rest, how many processes left in it, and their pids.
_shared: tuple[Any, Any, Any] | None = None


def leave_if_resting(rest: int) -> None:
    """In a pool process: leave (exit 0, after Celery's process shutdown) unless the pool
    has woken since it queued this job; noted, so that a wake forks one more in its place."""
    if _shared is None:
        return
    rests, leaving, pids = _shared
    with rests.get_lock():
        if rests.value != rest:
            return
        if leaving.value < len(pids):
            pids[leaving.value] = os.getpid()
        leaving.value += 1
    sys.exit(0)  # billiard's own sys.exit: the code it exits with


class RestingWorker(Worker):  # type: ignore[misc]
    """billiard's pool process, which before it exits waits for the pool to have read the
    answers to its jobs: here only those up to its last job that was not a leave job. The
    answer to a leave job is nobody's (and after a stop, nobody reads it: billiard would wait
    30 s for it)."""

    _taken = _real_upto = 0
    wait_for_job: Any  # billiard's, set in the process

    def _make_child_methods(self, *args: Any, **kwargs: Any) -> None:
        super()._make_child_methods(*args, **kwargs)
        receive = self.wait_for_job

        def wait_for_job(*args: Any, **kwargs: Any) -> Any:
            req = receive(*args, **kwargs)
            if req:
                self._taken += 1
                if req[1][2] is not leave_if_resting:  # (TASK, (job, i, fun, args, kwargs))
                    self._real_upto = self._taken
            return req

        self.wait_for_job = wait_for_job

    def _ensure_messages_consumed(self, completed: int) -> bool:
        return bool(super()._ensure_messages_consumed(min(completed, self._real_upto)))


class RestingPool(BlockingPool):  # type: ignore[misc]
    """billiard's threaded pool, emptied after ``idle_exit_s`` without a job."""

    Worker = RestingWorker
    _processes: int  # billiard's count of the processes it keeps

    def __init__(self, *args: Any, idle_exit_s: float, **kwargs: Any) -> None:
        global _shared
        self.idle_exit_s = idle_exit_s
        self._resize = threading.RLock()
        self._busy_at = monotonic()
        self._applying = 0  # jobs being handed over (a wait for a slot among them)
        ctx = get_context()
        lock = ctx.RLock()
        processes = kwargs.get("processes", args[0] if args else None) or os.cpu_count() or 1
        slots = 4 * processes + 4  # the leave jobs of one rest: one per process
        self._rests, self._leaving, self._left = _shared = (  # before the pool forks
            ctx.Value("i", 0, lock=lock),
            ctx.Value("i", 0, lock=lock),
            ctx.Array("i", slots, lock=lock),
        )
        super().__init__(*args, **kwargs)
        self.size: int = self._processes  # the count when awake

    @property
    def resting(self) -> bool:
        return self._processes == 0

    def _maintain_pool(self) -> None:
        """billiard's upkeep (every 0.8 s, in its supervisor thread), then rest if idle."""
        with self._resize:
            joined = self._join_exited_workers()
            self._repopulate_pool(joined)
            if self._putlock is not None:  # the slot of a job a process died holding
                for code in joined:
                    if code != EX_OK:  # (one that left, with EX_OK, held none)
                        self._putlock.release()
            now = monotonic()
            if self._cache or self._applying:
                self._busy_at = now
                if self.resting:  # (not reached: a job is handed over awake)
                    self.wake()
            elif self._processes and now - self._busy_at >= self.idle_exit_s:
                self._rest()

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        """Wake, then hand the job over as billiard does (waiting for a free slot): meanwhile
        the pool does not rest."""
        with self._resize:
            self._applying += 1
            self.wake()
        try:
            return super().apply_async(*args, **kwargs)
        finally:
            with self._resize:
                self._applying -= 1
                self._busy_at = monotonic()

    def wake(self) -> None:
        """Have all the processes again, at once: the leave jobs still queued are passed
        over, and a process is forked for each one that left or is leaving."""
        with self._resize:
            self._busy_at = monotonic()
            if not self.resting or self._state != RUN:
                return
            with self._rests.get_lock():  # from here on no process leaves
                self._rests.value += 1
                left = set(self._left[: min(self._leaving.value, len(self._left))])
            self._set_slots(self.size)
            self._join_exited_workers()
            # those that left but are not joined yet still count in billiard's pool
            leaving = sum(1 for w in self._pool if w.pid in left)
            self._processes = self.size + leaving
            try:
                self._repopulate_pool([EX_OK] * self._processes)  # (not restarts after a crash)
            finally:
                self._processes = self.size
            log.info("pool_waking", processes=self.size)

    def _rest(self) -> None:
        """Queue one leave job per process, and fork none to replace them."""
        with self._rests.get_lock():
            rest = self._rests.value
            self._leaving.value = 0
        self._join_exited_workers()  # (no leave job for a process gone already)
        self._processes = 0
        self._set_slots(0)
        for _ in range(len(self._pool)):
            job: tuple[Any, ...] = (TASK, (next(job_counter), None, leave_if_resting, (rest,), {}))
            self._taskqueue.put(([job], None))  # no result awaited: billiard drops its answer
        log.info("pool_resting", processes=self.size, idle_s=self.idle_exit_s)

    def _set_slots(self, n: int) -> None:
        """The slots Celery waits on before it hands a job over: all free, since the pool
        rests only with no job in it and wakes from rest, where none can have been taken."""
        putlock = self._putlock
        if putlock is None:
            return
        with putlock._cond:
            putlock._initial_value = n
            putlock._value = n
            putlock._cond.notify_all()


class RestingTaskPool(TaskPool):  # type: ignore[misc]
    """Celery's prefork pool; on a polling broker (the embedded one), a :class:`RestingPool`.
    A broker with an event loop (Redis, RabbitMQ) keeps Celery's asynchronous pool as it is."""

    BlockingPool = RestingPool
    idle_exit_s = 60.0
    #: the pool's name in ``worker_ready``
    label = "prefork"

    def on_start(self) -> None:
        if self.options.get("threads", True):
            self.options["idle_exit_s"] = self.idle_exit_s
        super().on_start()


def resting_pool(idle_exit_s: float) -> type[TaskPool]:
    """The prefork pool class whose processes exit after ``idle_exit_s`` without a task."""
    return type("TaskPool", (RestingTaskPool,), {"idle_exit_s": idle_exit_s})
