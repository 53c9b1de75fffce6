"""Sending filerelay's tasks: ingests (the watcher's :class:`CeleryPublisher`, reprocess, the
reconciler) and step messages, with back pressure and the steps' time limits;
:class:`CeleryWorkPublisher` is the pipeline core's
:class:`~filerelay.pipeline.publisher.WorkPublisher` over a Celery app.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import structlog
from celery import Celery

from filerelay.errors import FilerelayError
from filerelay.fleet.identity import queue_for
from filerelay.model import FileEvent
from filerelay.pipeline.messages import StepMessage
from filerelay.pipeline.runner import Outcome
from filerelay.tasks.batch import SPREAD, chunks, send_ingest_batch
from filerelay.tasks.names import INGEST, STEP

log = structlog.get_logger("filerelay.tasks")

#: Hard time limit past the soft one (the step's timeout): time for the action to clean up.
KILL_AFTER_S = 20.0
#: How long the watcher holds events for a fuller batch while this host's queue is not empty.
LINGER_S = 0.1

PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2.0,
}


def ingest_queue(queue: str, event: FileEvent, shared_sources: frozenset[str] = frozenset()) -> str:
    """The one place a message's queue is chosen (steps: :func:`send_step`). An ingest runs on
    the host of the event's watcher — it re-stats the file and may hash it — unless its
    source is shared (mounted by every worker); the shared queue for an event with no agent."""
    return queue_for(queue, "" if event.source in shared_sources else event.agent)


def enqueue(app: Celery, outcome: Outcome, queue: str) -> None:
    """Publish the step messages an outcome asks for."""
    for msg in outcome.enqueue:
        send_step(app, msg, queue)


def send_step(app: Celery, msg: StepMessage, queue: str) -> None:
    """Publish a step message to its host's queue, or to the shared ``queue`` when it does
    not touch the file (``msg.agent``, see :mod:`filerelay.fleet.affinity`): its timeout is
    the soft time limit, and a step that ignores it is killed :data:`KILL_AFTER_S` later
    (its lease then lapses, since nothing renews it)."""
    app.send_task(
        STEP,
        args=[msg.step_id],
        kwargs={"event_id": msg.event_id, "source": msg.source, "relpath": msg.relpath},
        queue=queue_for(queue, msg.agent),
        countdown=msg.countdown_s or None,
        soft_time_limit=msg.timeout_s,
        time_limit=msg.timeout_s + KILL_AFTER_S,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )


def queue_depth(app: Celery, queue: str) -> int:
    """Messages waiting in ``queue`` (a passive declare: Redis, AMQP, embedded), over a
    connection of the app's pool: its channel is kept, so a watcher's publisher can ask often
    (0.14 ms of CPU against 1.3 for a new connection and channel on Redis)."""
    with app.pool.acquire(block=True) as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except conn.channel_errors:  # not declared yet (no worker started): empty
            return 0
        except Exception:
            conn.collect()  # broken: it goes back to the pool without its transport state
            raise
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
        ingest_batch: int = 1,
        *,
        agent: str = "",
        shared_sources: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.queue = queue
        self.max_backlog = max_backlog
        self.inline_step_s = inline_step_s  # see send_ingest
        self.agent = agent  # stamped on every event: its steps that read the file stay here
        self.shared_sources = shared_sources
        self.ingest_batch = ingest_batch  # events per message at most (filerelay.tasks.batch)

    def warm_up(self) -> None:
        """Open the broker connections the first publish would otherwise open (the queue
        depth's and the producer's: 45 to 55 ms before the first file's message on Redis).
        Best effort: a broker that is down is met, and reported, by the first publish."""
        try:
            self.queue_depth()
            with self.app.producer_or_acquire():
                pass
        except Exception as exc:
            log.debug("publisher_warm_up_failed", error=str(exc))

    def queue_depth(self) -> int:
        """Messages waiting in the queue this watcher's ingests go to (its host's)."""
        return queue_depth(self.app, queue_for(self.queue, self.agent))

    def linger_s(self, waiting: int) -> float:
        """How long the watcher's publisher waits for more events before publishing the
        ``waiting`` ones: :data:`LINGER_S` while this host's queue holds messages — the
        workers are busy, the events would wait in the queue anyway, and a fuller batch costs
        them less per file — and not at all when the queue is empty (an idle worker takes
        each file at once) or a full batch is there. The publisher asks again while it
        lingers, and stops as soon as the answer is 0: the queue drained, or the batch is
        full."""
        if self.ingest_batch <= 1 or waiting >= self.ingest_batch:
            return 0.0
        return LINGER_S if self._busy() else 0.0

    def _busy(self) -> bool:
        """Whether this host's queue holds messages (a broker that cannot say: no)."""
        try:
            return self.queue_depth() > 0
        except Exception:  # the publish that follows meets the broker's error, and reports it
            return False

    def __call__(self, events: list[FileEvent]) -> None:
        depth = None
        if self.max_backlog is not None:
            depth = self.queue_depth()
            if depth >= self.max_backlog:
                raise BacklogFull(f"queue {self.queue} holds {depth} messages (max_backlog)")
        # spread over several messages only for idle workers; busy, each takes a full batch
        busy = self.ingest_batch > 1 and (depth > 0 if depth is not None else self._busy())
        spread = 1 if busy else SPREAD
        with self.app.producer_or_acquire() as producer, _batch(producer):
            for queue, group in self._by_queue(events).items():
                for chunk in chunks(group, self.ingest_batch, spread):
                    if len(chunk) > 1:  # a backlog: several events per message (tasks.batch)
                        send_ingest_batch(
                            self.app,
                            chunk,
                            queue,
                            producer=producer,
                            inline_step_s=self.inline_step_s,
                        )
                        continue
                    send_ingest(
                        self.app,
                        chunk[0],
                        self.queue,
                        producer=producer,
                        inline_step_s=self.inline_step_s,
                        shared_sources=self.shared_sources,
                    )

    def _by_queue(self, events: list[FileEvent]) -> dict[str, list[FileEvent]]:
        """The events, stamped with this host's agent id, by the queue their ingest goes to
        (this host's, or the shared one for a ``shared: true`` source): a batch never mixes
        two queues."""
        groups: dict[str, list[FileEvent]] = {}
        for event in events:
            if self.agent and not event.agent:
                event = event.model_copy(update={"agent": self.agent})
            queue = ingest_queue(self.queue, event, self.shared_sources)
            groups.setdefault(queue, []).append(event)
        return groups


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
    shared_sources: frozenset[str] = frozenset(),
) -> None:
    """Publish one ``filerelay.ingest`` task to the event's host queue
    (:func:`ingest_queue`). Flower and the logs show the event id, source and path only
    (``argsrepr``), never the whole message.

    ``inline_step_s`` becomes the task's soft time limit, which lets the worker run a first
    step of at most that timeout inside the ingest
    (:func:`filerelay.pipeline.inline.inline_step_s`); without it every step goes through the
    broker.
    """
    hard_s = inline_step_s + KILL_AFTER_S if inline_step_s else None
    app.send_task(
        INGEST,
        args=[event.to_message()],
        kwargs={"rules": rules} if rules else {},
        queue=ingest_queue(queue, event, shared_sources),
        producer=producer,
        soft_time_limit=inline_step_s,
        time_limit=hard_s,
        retry=True,
        retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_max": 0.5},
        argsrepr=f"event_id={event.event_id} source={event.source} path={event.path}",
    )


class CeleryWorkPublisher:
    """The pipeline core's :class:`~filerelay.pipeline.publisher.WorkPublisher` over a Celery
    app: step messages and ingests go to ``queue`` or to their host's queue; ``agent`` is this
    host's agent id, stamped on the events it finds itself (the disk audit walks this host)."""

    def __init__(self, app: Celery, queue: str, agent: str = "") -> None:
        self.app = app
        self.queue = queue
        self.agent = agent

    def enqueue(self, outcome: Outcome) -> None:
        """Publish the step messages ``outcome`` asks for."""
        enqueue(self.app, outcome, self.queue)

    def send_ingest(self, event: FileEvent) -> None:
        """Publish one ingest of ``event`` (no inline first step) to its host's queue."""
        if self.agent and not event.agent:
            event = event.model_copy(update={"agent": self.agent})
        send_ingest(self.app, event, self.queue)

    def queue_depth(self) -> int:
        """Messages waiting in the shared queue and in this host's queue."""
        depth = queue_depth(self.app, self.queue)
        if self.agent:
            depth += queue_depth(self.app, queue_for(self.queue, self.agent))
        return depth
