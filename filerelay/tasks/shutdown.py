"""A worker's stop: at once when idle; when steps run, they get ``FILERELAY_SOFT_SHUTDOWN_S``
to finish, and one log line says what the worker waits for.

Celery's warm shutdown (SIGTERM, the first Ctrl-C) waits for running tasks with no bound, and
its soft shutdown applies only to a cold one (and then sleeps the whole window, even when the
tasks end sooner). So a warm shutdown is watched here: when the window is over, the pool
processes still running a step are killed; their messages go back to the queue
(``task_reject_on_worker_lost``) and their leases are ended when the worker's agent stops
(:func:`filerelay.agents.stop_worker_agent`), so another worker takes the steps over at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

import structlog
from celery.worker import state

from filerelay.tasks.labels import task_labels

log = structlog.get_logger("filerelay.tasks")

POLL_S = 0.1
#: How long a step stopped at the end of the window has to clean up before it is killed.
CLEANUP_S = 2.0


def on_warm_shutdown(window_s: float) -> None:
    """Log what the stop waits for; kill what still runs after ``window_s``."""
    running = tuple(state.active_requests)
    if not running:
        log.info("worker_stopping", waiting_for="nothing")
        return
    log.info("worker_stopping", waiting_for=[_label(r) for r in running], up_to_s=window_s)
    watch = threading.Thread(target=_force_after, args=(window_s,), name="stop-window")
    watch.daemon = True
    watch.start()


def _label(request: Any) -> dict[str, Any]:
    """What a running task is about: its event, source, file and step."""
    args, kwargs = request.args or (), request.kwargs or {}
    labels = task_labels(request.name, args, kwargs)
    message = args[0] if args and isinstance(args[0], dict) else kwargs
    relpath = message.get("relpath")
    return {"task": request.name, **labels, **({"relpath": relpath} if relpath else {})}


def _force_after(window_s: float) -> None:
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        if not state.active_requests:
            return
        time.sleep(POLL_S)
    running = tuple(state.active_requests)
    pids = {r.worker_pid for r in running if r.worker_pid and r.worker_pid != os.getpid()}
    log.warning("worker_stop_forced", after_s=window_s, stopped=[_label(r) for r in running])
    # first the soft time limit's signal, so the action cleans up (a script's process group
    # is killed), then SIGKILL for a step that ignores it
    _signal(pids, signal.SIGUSR1)
    deadline = time.monotonic() + CLEANUP_S
    while state.active_requests and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if state.active_requests:
        _signal(pids, signal.SIGKILL)


def _signal(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
