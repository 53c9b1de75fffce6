"""The Celery app factory and the task definitions (thin: decode, call the runner, enqueue).

Delivery settings follow DESIGN.md: late acks, reject on worker lost, prefetch 1, JSON only,
publish retry, a visibility timeout above the longest step time limit plus backoff.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import structlog
from celery import Celery, signals
from celery.app.task import Task
from celery.exceptions import SoftTimeLimitExceeded

from filerelay.agents import start_worker_agent, stop_worker_agent
from filerelay.errors import ConfigError, FilerelayError, StoreError
from filerelay.logs import stdout_to_log
from filerelay.model import FileEvent
from filerelay.pipeline.hooks import StepHooks
from filerelay.pipeline.runner import Outcome, StepMessage, ingest, run_step
from filerelay.pipeline.runtime import RuntimeHolder
from filerelay.settings import Settings

INGEST = "filerelay.ingest"
STEP = "filerelay.step"
UNAVAILABLE_MAX_BACKOFF_S = 30.0
PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2.0,
}

log = structlog.get_logger("filerelay.tasks")


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for the given process settings."""
    transport_options: dict[str, Any] = {"visibility_timeout": settings.visibility_timeout_s}
    if settings.embedded_broker:
        folder = settings.broker_dir()
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": 0.05,
        }
    conf: dict[str, Any] = {
        "broker_url": settings.resolved_broker_url(),
        "result_backend": settings.result_backend,
        "task_ignore_result": settings.result_backend is None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.queue,
        "task_create_missing_queues": True,
        "task_publish_retry": True,
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 4.0,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # SIGTERM: running steps get this long to finish; then the worker stops and, on
        # Redis/AMQP, hands its unacknowledged messages back to the queue at once (their
        # steps are claimed again once their lease expires; nothing waits for the
        # visibility timeout)
        "worker_soft_shutdown_timeout": settings.soft_shutdown_s,
        "worker_enable_soft_shutdown_on_idle": True,
        "broker_channel_error_retry": True,
    }
    if settings.embedded_broker:
        # the filesystem transport has no fanout for remote control/events between hosts
        conf.update(worker_enable_remote_control=False, worker_send_task_events=False)
    return conf


def make_celery(settings: Settings, hooks: Sequence[StepHooks] = ()) -> Celery:
    """Build a configured Celery app with filerelay's tasks registered; ``hooks`` observe the
    runner's outcomes in every worker process (metrics)."""
    app = Celery("filerelay", set_as_current=False)
    app.conf.update(celery_config(settings))
    holder = RuntimeHolder(settings, hooks)
    app.filerelay_runtime = holder  # type: ignore[attr-defined]

    # max_retries=None here: retry(max_retries=None) falls back to the task's limit, which
    # is 3 by default; a 4th deferral would fail the task and drop its message
    @app.task(name=INGEST, bind=True, ignore_result=True, max_retries=None)
    def ingest_task(self: Task, event: dict[str, Any], rules: str | None = None) -> None:
        """Record, route and start the pipelines of one stable file (``rules``: the SHA-256 of
        the config version to route with, for a reprocess with the same rules)."""
        with _retry_when_unavailable(self):
            runtime = holder.get()
            budget_s = _soft_limit_s(self)  # set by the watcher: one first step may run here
            outcome = ingest(
                runtime,
                FileEvent.from_message(event),
                rules,
                budget_s,
                send=lambda msgs: enqueue(app, Outcome(msgs), settings.queue),
            )
        enqueue(app, outcome, settings.queue)

    @app.task(name=STEP, bind=True, ignore_result=True, max_retries=None)
    def step_task(
        self: Task, step_id: int, event_id: str = "", source: str = "", relpath: str = ""
    ) -> None:
        """Claim and run one step of a pipeline (event_id/source/relpath: labels for Flower)."""
        with _retry_when_unavailable(self):
            soft_s = _soft_limit_s(self)  # the step's timeout: no read to find its lease
            lease_s = soft_s + settings.lease_margin_s if soft_s else None
            outcome = run_step(holder.get(), step_id, lease_s=lease_s)
        enqueue(app, outcome, settings.queue)

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
    def _main_sighup(**_: Any) -> None:
        # Celery's own SIGHUP handler re-executes the worker, which would exit on a bad file;
        # ours validates and logs at once, and the processes reload at their next task.
        signal.signal(signal.SIGHUP, lambda *_: _on_sighup(holder))
        holder.start_watching()  # threads/solo pools run tasks in this process
        start_worker_agent(app, settings)

    @signals.worker_shutdown.connect(weak=False)
    def _agent_stopped(**_: Any) -> None:
        stop_worker_agent(app)

    @signals.celeryd_after_setup.connect(weak=False)
    def _json_only(instance: Any, **_: Any) -> None:  # before Celery prints its banner
        if settings.log_format == "json":
            instance.quiet = True
            stdout_to_log()

    @signals.worker_shutting_down.connect(weak=False)
    def _shutting_down(sig: str = "", how: str = "", **_: Any) -> None:
        log.info("worker_shutting_down", signal=sig, how=how.lower())

    signals.task_prerun.connect(_bind_task_context, weak=False)  # the same function once
    signals.task_postrun.connect(_clear_task_context, weak=False)
    return app


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


def task_labels(name: str, args: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``event_id`` and ``source`` (and a step's ``step_id``) from a task's arguments."""
    labels: dict[str, Any] = {}
    if name == INGEST and args and isinstance(args[0], dict):
        labels = {"event_id": args[0].get("event_id"), "source": args[0].get("source")}
    elif name == STEP:
        labels = {
            "event_id": kwargs.get("event_id"),
            "source": kwargs.get("source"),
            "step_id": args[0] if args else None,
        }
    return {key: value for key, value in labels.items() if value not in (None, "")}


def _soft_limit_s(task: Task) -> float | None:
    """The soft time limit the message was sent with, if any."""
    limits = task.request.timelimit or (None, None)
    return float(limits[1]) if limits[1] else None


@contextmanager
def _retry_when_unavailable(task: Task) -> Iterator[None]:
    """The store unreachable (or the config unloadable) is not the file's fault: send the
    message again later, with backoff, instead of failing and dropping it."""
    try:
        yield
    except (StoreError, ConfigError, SoftTimeLimitExceeded) as exc:
        # (a soft time limit outside any action — in a store call — is the store being slow)
        retries = task.request.retries or 0
        countdown = min(UNAVAILABLE_MAX_BACKOFF_S, 2.0 ** min(retries, 6))
        log.warning("task_deferred", reason=str(exc).splitlines()[0], retry_in_s=countdown)
        raise task.retry(exc=exc, countdown=countdown, max_retries=None) from None


def _on_sighup(holder: RuntimeHolder) -> None:
    holder.request_reload()
    from filerelay.actions.registry import default_registry
    from filerelay.config import ActionCatalog, load_config

    path = holder.settings.config
    try:
        loaded = load_config(str(path), ActionCatalog.from_registry(default_registry()))
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("config_reload_refused", problem=str(problem).lstrip(": "))
        return
    log.info("config_reload_requested", sha256=loaded.sha256[:12])


def enqueue(app: Celery, outcome: Outcome, queue: str) -> None:
    """Publish the step messages an outcome asks for."""
    for msg in outcome.enqueue:
        send_step(app, msg, queue)


def send_step(app: Celery, msg: StepMessage, queue: str) -> None:
    """Publish a step message; the hard time limit stays inside the step's lease."""
    settings: Settings = app.filerelay_runtime.settings  # type: ignore[attr-defined]
    kill_after_s = _kill_after_s(settings)
    app.send_task(
        STEP,
        args=[msg.step_id],
        kwargs={"event_id": msg.event_id, "source": msg.source, "relpath": msg.relpath},
        queue=queue,
        countdown=msg.countdown_s or None,
        soft_time_limit=msg.timeout_s,
        time_limit=msg.timeout_s + kill_after_s,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )


def _kill_after_s(settings: Settings) -> float:
    """Hard time limit past the soft one: a step overrunning its timeout is killed while its
    lease (timeout + lease margin) still holds, so nothing else runs it meanwhile."""
    return min(30.0, settings.lease_margin_s / 2)


def inline_step_s(model: Any) -> float | None:
    """The longest timeout of a route's first steps: the ingest task's soft time limit, so
    that the worker can run any route's first step inside the ingest."""
    from filerelay.config.models import step_slots

    longest = None
    default = model.defaults.timeout
    for route in model.routes:
        slots = list(step_slots(route.steps))
        first = min((position for position, *_ in slots), default=None)
        for position, _branch, step, _path in slots:
            if position == first:
                timeout_s = step.timeout if step.timeout is not None else default
                longest = max(longest or 0.0, float(timeout_s))
    return longest


def queue_depth(app: Celery, queue: str) -> int:
    """Messages waiting in ``queue`` (a passive declare: Redis, AMQP, embedded)."""
    with app.connection_for_write() as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except conn.channel_errors:  # not declared yet (no worker started): empty
            return 0
        return int(declared.message_count)


class BacklogFull(FilerelayError):
    """The broker queue holds ``max_backlog`` messages: events wait in the watcher's outbox."""


class CeleryPublisher:
    """The watcher's publish callable: one ``filerelay.ingest`` task per event.

    With ``max_backlog``, a batch is held back (raising :class:`BacklogFull`, so the publisher
    keeps it in the outbox and tries again later) while the queue already holds that many
    messages — back pressure instead of flooding the broker. The queue may exceed the bound by
    at most one publish batch.
    """

    def __init__(
        self,
        app: Celery,
        queue: str,
        max_backlog: int | None = None,
        inline_step_s: float | None = None,
    ) -> None:
        self.app = app
        self.queue = queue
        self.max_backlog = max_backlog
        self.inline_step_s = inline_step_s  # see send_ingest

    def queue_depth(self) -> int:
        return queue_depth(self.app, self.queue)

    def __call__(self, events: list[FileEvent]) -> None:
        if self.max_backlog is not None:
            depth = self.queue_depth()
            if depth >= self.max_backlog:
                raise BacklogFull(f"queue {self.queue} holds {depth} messages (max_backlog)")
        with self.app.producer_or_acquire() as producer, _batch(producer):
            for event in events:
                send_ingest(
                    self.app, event, self.queue, producer=producer, inline_step_s=self.inline_step_s
                )


def _batch(producer: Any) -> AbstractContextManager[Any]:
    """One broker round trip for a whole batch where the transport can (kombu >= 5.7 on Redis:
    a pipeline sent when the block ends, which raises if Redis refused any of it, so the
    outbox keeps the batch); elsewhere each message is published as it is sent."""
    batch = getattr(producer, "batch", None)
    return batch() if batch is not None else nullcontext()


def send_ingest(
    app: Celery,
    event: FileEvent,
    queue: str,
    *,
    producer: Any = None,
    rules: str | None = None,
    inline_step_s: float | None = None,
) -> None:
    """Publish one ``filerelay.ingest`` task. Flower and the logs show the event id, source
    and path only (``argsrepr``), never the whole message.

    ``inline_step_s`` becomes the task's soft time limit, which lets the worker run a first
    step of at most that timeout inside the ingest (:func:`inline_step_s`); without it every
    step goes through the broker.
    """
    hard_s = None
    if inline_step_s:
        settings: Settings = app.filerelay_runtime.settings  # type: ignore[attr-defined]
        hard_s = inline_step_s + _kill_after_s(settings)
    app.send_task(
        INGEST,
        args=[event.to_message()],
        kwargs={"rules": rules} if rules else {},
        queue=queue,
        producer=producer,
        soft_time_limit=inline_step_s,
        time_limit=hard_s,
        retry=True,
        retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_max": 0.5},
        argsrepr=f"event_id={event.event_id} source={event.source} path={event.path}",
    )
