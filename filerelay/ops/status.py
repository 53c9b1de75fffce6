"""``filerelay status``: queue depth, live workers, agents, recent counts, oldest pending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery

from filerelay.fleet.identity import host_queue
from filerelay.settings import Settings
from filerelay.store import Store
from filerelay.store.rows import AgentRow, PendingEvent, SourceRow

PING_TIMEOUT_S = 1.0
AGENTS_SEEN_WITHIN = timedelta(days=1)
NO_REMOTE_CONTROL = "remote control unavailable (embedded broker)"


@dataclass
class Status:
    """Everything ``status`` shows; :meth:`as_dict` is its ``--json`` form."""

    queues: dict[str, int | None]
    broker_error: str | None
    workers: list[str] | None  # None: not asked or not answerable (see workers_note)
    workers_note: str | None
    agents: list[AgentRow]
    sources: list[SourceRow]
    last_hour: dict[str, int]
    last_day: dict[str, int]
    oldest_pending: PendingEvent | None

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form: every field, rows as plain mappings."""
        out = dict(self.__dict__)
        out["agents"] = [a.to_json() for a in self.agents]
        out["sources"] = [s.to_json() for s in self.sources]
        out["oldest_pending"] = self.oldest_pending.to_json() if self.oldest_pending else None
        return out


def queue_depths(app: Celery, queues: list[str]) -> dict[str, int | None]:
    """Messages waiting per queue: Redis LLEN, files of the embedded filesystem broker, AMQP
    message_count — kombu's passive declare answers for each transport."""
    out: dict[str, int | None] = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        channel = conn.default_channel
        for queue in queues:
            try:
                out[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception:  # a queue nobody declared yet holds nothing
                out[queue] = 0
                channel = conn.channel()
    return out


def ping_workers(app: Celery, settings: Settings) -> tuple[list[str] | None, str | None]:
    """Celery workers answering a ping within a second, or None and why not."""
    if settings.embedded_broker:
        return None, NO_REMOTE_CONTROL
    try:
        replies = app.control.inspect(timeout=PING_TIMEOUT_S).ping() or {}
    except Exception as exc:
        return None, f"ping failed: {exc}"
    return sorted(replies), None


def collect(settings: Settings, app: Celery, store: Store) -> Status:
    """Gather the status; a broker that cannot be reached is reported, not raised."""
    broker_error = None
    now = datetime.now(UTC)
    agents = store.agents(now - AGENTS_SEEN_WITHIN)
    # the shared queue, and each known host's queue (its files wait there without a worker)
    hosts = sorted({row.agent for row in agents if row.agent})
    names = [settings.queue, *(host_queue(settings.queue, agent) for agent in hosts)]
    try:
        queues = queue_depths(app, names)
    except Exception as exc:
        queues, broker_error = {settings.queue: None}, str(exc).splitlines()[0]
    workers, note = ping_workers(app, settings) if broker_error is None else (None, None)
    return Status(
        queues=queues,
        broker_error=broker_error,
        workers=workers,
        workers_note=note,
        agents=agents,
        sources=store.sources(),
        last_hour=store.count_by_state_since(now - timedelta(hours=1)),
        last_day=store.count_by_state_since(now - timedelta(days=1)),
        oldest_pending=store.oldest_pending(),
    )
