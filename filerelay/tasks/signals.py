"""The worker's Celery signal handlers: the runtime's life in each process, SIGHUP reloads,
the worker's agent (heartbeat), JSON-only output, and each task's log context."""

from __future__ import annotations

import signal
import threading
from typing import Any

import structlog
from celery import Celery, signals
from celery.app.task import Task

from filerelay.agents import start_worker_agent, stop_worker_agent
from filerelay.config.reload import try_reload
from filerelay.errors import ConfigError
from filerelay.fleet.identity import worker_queues
from filerelay.logs import stdout_to_log
from filerelay.pipeline.runtime import RuntimeHolder
from filerelay.settings import Settings
from filerelay.statedir import tighten_tree
from filerelay.tasks.labels import task_labels
from filerelay.tasks.shutdown import on_warm_shutdown

log = structlog.get_logger("filerelay.tasks")


def connect_worker_signals(app: Celery, holder: RuntimeHolder, settings: Settings) -> None:
    """Connect the handlers a worker of ``app`` needs (Celery's signals are process-wide)."""

    @signals.worker_process_shutdown.connect(weak=False)
    def _close_runtime(**_: Any) -> None:
        holder.reset()

    @signals.worker_process_init.connect(weak=False)
    def _child_reload(**_: Any) -> None:  # prefork children
        holder.install_sighup()
        holder.start_watching()
        # the first file does not pay for the store, config and clients; in a thread, since
        # billiard kills a child whose start takes over 4 s (a store that is down at start)
        threading.Thread(target=holder.warm_up, name="filerelay-warm-up", daemon=True).start()

    @signals.worker_ready.connect(weak=False)
    def _main_sighup(sender: Any = None, **_: Any) -> None:
        # Celery's own SIGHUP handler re-executes the worker, which would exit on a bad file;
        # ours validates and logs at once, and the processes reload at their next task.
        signal.signal(signal.SIGHUP, lambda *_: _on_sighup(holder))
        holder.start_watching()  # threads/solo pools run tasks in this process
        start_worker_agent(app, settings)
        if settings.embedded_broker:  # kombu made its exchange files with the umask
            tighten_tree(settings.broker_dir())
        _announce(sender, settings)

    @signals.worker_shutdown.connect(weak=False)
    def _agent_stopped(**_: Any) -> None:
        stop_worker_agent(app)

    @signals.celeryd_after_setup.connect(weak=False)
    def _json_only(instance: Any, **_: Any) -> None:  # before Celery prints its banner
        if settings.log_level != "DEBUG":  # worker_ready is the start-up line
            instance.quiet = True
        if settings.log_format == "json":
            instance.quiet = True
            stdout_to_log()

    @signals.worker_shutting_down.connect(weak=False)
    def _shutting_down(sig: str = "", how: str = "", **_: Any) -> None:
        log.info("worker_shutting_down", signal=sig, how=how.lower())
        if how.lower() == "warm":
            on_warm_shutdown(settings.soft_shutdown_s)

    signals.task_prerun.connect(_bind_task_context, weak=False)  # the same function once
    signals.task_postrun.connect(_clear_task_context, weak=False)


def _bind_task_context(
    task_id: str = "", task: Task | None = None, args: Any = (), kwargs: Any = None, **_: Any
) -> None:
    """Every line a task logs carries its event (nothing left over from the previous task
    this process or thread ran)."""
    structlog.contextvars.clear_contextvars()
    labels = task_labels(getattr(task, "name", ""), args or (), kwargs or {})
    structlog.contextvars.bind_contextvars(task_id=task_id, **labels)


def _clear_task_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


def _announce(consumer: Any, settings: Settings) -> None:
    """The worker's one start-up line: its pool and concurrency (a prefork pool's processes
    each log ``warmed_up`` next), what it consumes, its store, and its routes' steps (Celery's
    banner and "ready." are DEBUG; see :mod:`filerelay.logs`)."""
    from filerelay.actions.registry import default_registry
    from filerelay.config import ActionCatalog, load_config
    from filerelay.config.models import route_summary

    routes: dict[str, str] | str
    try:
        loaded = load_config(str(settings.config), ActionCatalog.from_registry(default_registry()))
        routes = route_summary(list(loaded.model.routes))  # type: ignore[attr-defined]
    except ConfigError as exc:  # the tasks will report it; the line says so
        routes = f"config not loaded: {str(exc.problems[0]).lstrip(': ')}"
    controller = getattr(consumer, "controller", None)  # Celery's WorkController
    pool_cls = getattr(controller, "pool_cls", None)  # e.g. celery.concurrency.prefork.TaskPool
    log.info(
        "worker_ready",
        node=getattr(consumer, "hostname", None),
        pool=_pool_name(pool_cls),
        concurrency=getattr(controller, "concurrency", None),
        consumes=f"{','.join(worker_queues(settings))} from {settings.broker_label()}",
        store=settings.store_label(),
        routes=routes,
    )


def _pool_name(pool_cls: Any) -> str | None:
    """``prefork``, ``threads``, ``solo``: Celery's module name for its pools, or the label of
    filerelay's own (:mod:`filerelay.tasks.pool`)."""
    if not isinstance(pool_cls, type):
        return None
    return getattr(pool_cls, "label", None) or pool_cls.__module__.rsplit(".", 1)[-1]


def _on_sighup(holder: RuntimeHolder) -> None:
    holder.request_reload()
    from filerelay.actions.registry import default_registry
    from filerelay.config import ActionCatalog, load_config

    path = holder.settings.config
    catalog = ActionCatalog.from_registry(default_registry())
    loaded = try_reload(lambda: load_config(str(path), catalog), log, path)
    if loaded is None:
        return
    log.info("config_reload_requested", sha256=loaded.sha256[:12])
