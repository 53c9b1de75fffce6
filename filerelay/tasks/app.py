"""The Celery app factory, its configuration and the task definitions (thin: decode, call
the runner, enqueue). Sending tasks is :mod:`filerelay.tasks.publisher`; the worker's signal
handlers are :mod:`filerelay.tasks.signals`.

Delivery settings follow DESIGN.md: late acks, reject on worker lost, prefetch 1, JSON only,
publish retry, a visibility timeout above the longest step time limit plus backoff.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from celery import Celery
from celery.app.task import Task
from celery.exceptions import SoftTimeLimitExceeded
from kombu.entity import Exchange, Queue

from filerelay.errors import ConfigError, StoreError
from filerelay.fleet.identity import worker_queues
from filerelay.model import FileEvent
from filerelay.pipeline.hooks import StepHooks
from filerelay.pipeline.runner import Outcome, ingest, run_step
from filerelay.pipeline.runtime import RuntimeHolder
from filerelay.settings import Settings
from filerelay.statedir import private_dir
from filerelay.tasks import embedded
from filerelay.tasks.batch import run_batch
from filerelay.tasks.names import INGEST, INGEST_BATCH, STEP
from filerelay.tasks.publisher import PUBLISH_RETRY_POLICY, enqueue
from filerelay.tasks.signals import connect_worker_signals
from filerelay.tasks.signing import SigningAMQP, VerifiedRequest

UNAVAILABLE_MAX_BACKOFF_S = 30.0

#: Broker URL schemes of RabbitMQ (whose queues filerelay declares as quorum queues).
AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp", "librabbitmq"})

log = structlog.get_logger("filerelay.tasks")


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for the given process settings."""
    transport_options: dict[str, Any] = {"visibility_timeout": settings.visibility_timeout_s}
    if settings.broker_master_name:  # Redis Sentinel
        transport_options["master_name"] = settings.broker_master_name
    broker_url = settings.resolved_broker_url()
    if settings.embedded_broker:
        embedded.register()
        broker_url = f"{embedded.SCHEME}://"
        folder = settings.broker_dir()
        for sub in ("queue", "processed", "control"):
            private_dir(folder / sub)
        private_dir(folder)
        private_dir(settings.state_dir)
        transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": 0.05,
        }
    conf: dict[str, Any] = {
        "broker_url": broker_url,
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
        # SIGTERM (a warm shutdown) gives running steps FILERELAY_SOFT_SHUTDOWN_S, then
        # kills them (filerelay.tasks.shutdown); a cold one (SIGQUIT, a second Ctrl-C) stops
        # at once. Celery's own soft shutdown would sleep its whole window, idle or not.
        "worker_soft_shutdown_timeout": 0.0,
        "worker_enable_soft_shutdown_on_idle": False,
        # a pool process killed at the end of that window is given up on after 1 s (not 10)
        "worker_lost_wait": 1.0,
        "broker_channel_error_retry": True,
    }
    quorum = broker_url.split(":", 1)[0] in AMQP_SCHEMES and settings.amqp_queue_type == "quorum"
    # quorum queues (replicated) behind topic exchanges: Celery then delays a countdown (a
    # retry's backoff) in RabbitMQ's delayed-delivery exchanges, not in a worker's memory
    exchange_type = "topic" if quorum else "direct"
    if quorum:
        conf.update(
            task_default_queue_type="quorum",
            task_create_missing_queue_type="quorum",  # every host queue, created when first used
            task_create_missing_queue_exchange_type="topic",
        )
    # what a worker consumes unless told otherwise (`celery -A filerelay.tasks worker` too):
    # its host's queue and the shared queue, declared as Celery declares a missing queue
    conf["task_queues"] = [
        Queue(
            name,
            Exchange(name, type=exchange_type),
            name,
            queue_arguments={"x-queue-type": "quorum"} if quorum else None,
        )
        for name in worker_queues(settings)
    ]
    if settings.embedded_broker:
        # the filesystem transport has no fanout for remote control/events between hosts
        conf.update(worker_enable_remote_control=False, worker_send_task_events=False)
    return conf


def make_celery(settings: Settings, hooks: Sequence[StepHooks] = ()) -> Celery:
    """Build a configured Celery app with filerelay's tasks registered; ``hooks`` observe the
    runner's outcomes in every worker process (metrics)."""
    app = Celery("filerelay", set_as_current=False, amqp=SigningAMQP)
    app.conf.update(celery_config(settings))
    app.filerelay_message_key = settings.resolved_message_key()
    # the worker's agent tag, known before its pool forks: every lease its processes take
    # names it, so a successor on this host can end them once it is dead (pipeline.lease)
    holder = RuntimeHolder(
        settings,
        hooks,
        owner_tag=uuid.uuid4().hex[:8],
        interruptions=(SoftTimeLimitExceeded,),  # a step's time limit, or the stop window's end
    )
    app.filerelay_runtime = holder

    # max_retries=None here: retry(max_retries=None) falls back to the task's limit, which
    # is 3 by default; a 4th deferral would fail the task and drop its message
    @app.task(name=INGEST, bind=True, ignore_result=True, max_retries=None, Request=VerifiedRequest)
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

    @app.task(
        name=INGEST_BATCH, bind=True, ignore_result=True, max_retries=None, Request=VerifiedRequest
    )
    def ingest_batch_task(
        self: Task, events: list[dict[str, Any]], inline_s: float | None = None
    ) -> None:
        """Record, route and start the pipelines of several stable files, one after the
        other (:mod:`filerelay.tasks.batch`)."""
        run_batch(
            self, holder, events, inline_s, lambda msgs: enqueue(app, Outcome(msgs), settings.queue)
        )

    @app.task(name=STEP, bind=True, ignore_result=True, max_retries=None, Request=VerifiedRequest)
    def step_task(
        self: Task, step_id: int, event_id: str = "", source: str = "", relpath: str = ""
    ) -> None:
        """Claim and run one step of a pipeline (event_id/source/relpath: labels for Flower)."""
        with _retry_when_unavailable(self):
            outcome = run_step(holder.get(), step_id)
        enqueue(app, outcome, settings.queue)

    connect_worker_signals(app, holder, settings)
    return app


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
