"""The Celery signals that keep a worker's metrics right across its pool processes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import structlog
from celery import signals

from filerelay.metrics import multiproc

if TYPE_CHECKING:
    from filerelay.metrics.setup import WorkerMetricsSetup

log = structlog.get_logger("filerelay.metrics")


def connect(setup: WorkerMetricsSetup, parent_pid: int) -> None:
    """Connect the handlers for this worker (``parent_pid``: the process serving metrics)."""

    @signals.worker_process_init.connect(weak=False)
    def _child_started(**_: Any) -> None:
        # a forked pool child inherited the parent's listening socket: close its copy
        if setup.server is not None:
            setup.server.close_inherited()

    @signals.worker_process_shutdown.connect(weak=False)
    def _child_exited(pid: int | None = None, **_: Any) -> None:
        if setup.path is not None:
            multiproc.mark_dead(pid or os.getpid(), setup.path)

    @signals.task_prerun.connect(weak=False)
    def _task_started(task: Any = None, **_: Any) -> None:
        _safely(setup.hook.task_started, getattr(task, "name", "?"))

    @signals.task_postrun.connect(weak=False)
    def _task_ended(task: Any = None, **_: Any) -> None:
        _safely(setup.hook.task_ended, getattr(task, "name", "?"))

    @signals.worker_shutdown.connect(weak=False)
    def _worker_stopped(**_: Any) -> None:
        if os.getpid() != parent_pid:
            return
        if setup.server is not None:
            setup.server.stop()
        if setup.owned and setup.path is not None:
            multiproc.remove(setup.path)


def _safely(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.error("hook_failed", hook=getattr(fn, "__qualname__", "?"), exc_info=True)
