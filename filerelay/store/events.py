"""Queries on ``file_events``: recording a detected file version and moving its state.

Functions here run inside a transaction the caller (:class:`~filerelay.store.repo.Store`)
opened; they never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, func, insert, select, update
from sqlalchemy.engine import RowMapping

from filerelay.errors import StoreError
from filerelay.model import EventState, FileEvent
from filerelay.store.records import RecordedEvent, event_values
from filerelay.store.schema import DEDUP_KEY_LEN, file_events, pipelines
from filerelay.store.states import EVENT


def get(conn: Connection, event_id: str, lock: bool = False) -> RowMapping | None:
    """The event row, locked for update when ``lock`` (PostgreSQL; SQLite locks the file)."""
    query = select(file_events).where(file_events.c.id == event_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def primary_for(conn: Connection, dedup_key: str) -> str | None:
    """Id of the primary (non-duplicate) row of a file version, if one exists."""
    query = select(file_events.c.id).where(
        file_events.c.dedup_key == dedup_key, file_events.c.state != EventState.DUPLICATE.value
    )
    return conn.execute(query).scalar()


def has_pipelines(conn: Connection, event_id: str) -> bool:
    """Whether any pipeline was created for the event."""
    query = select(exists().where(pipelines.c.event_id == event_id))
    return bool(conn.execute(query).scalar())


def record(conn: Connection, event: FileEvent, now: datetime) -> RecordedEvent:
    """Insert ``event`` as ``queued``, or as a ``duplicate`` of the known version.

    A redelivered event (same id) is returned as recorded. Raises ``IntegrityError`` when a
    concurrent transaction inserted the same id or dedup key first: the caller retries in a
    new transaction, which then sees that row.
    """
    if len(event.dedup_key) > DEDUP_KEY_LEN:
        raise StoreError(
            f"dedup key of {event.relpath!r} is {len(event.dedup_key)} characters "
            f"(at most {DEDUP_KEY_LEN})"
        )
    existing = get(conn, event.event_id)
    if existing is not None:
        return _redelivered(existing)
    primary = primary_for(conn, event.dedup_key)
    state = EventState.QUEUED if primary is None else EventState.DUPLICATE
    values: dict[str, Any] = event_values(event) | {
        "state": state.value,
        "duplicate_of": primary,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(file_events).values(**values))
    return RecordedEvent(
        event_id=event.event_id, state=state.value, is_new=primary is None, duplicate_of=primary
    )


def _redelivered(row: RowMapping) -> RecordedEvent:
    """The answer for an event id recorded before: go on only while it is still queued."""
    return RecordedEvent(
        event_id=row["id"],
        state=row["state"],
        is_new=row["state"] == EventState.QUEUED.value,
        duplicate_of=row["duplicate_of"],
    )


def transition(
    conn: Connection, event_id: str, to_state: str, now: datetime, reason: str | None = None
) -> bool:
    """Move the event to ``to_state`` if its current state allows it.

    Returns False when it is already there (or a concurrent transition won); raises
    :class:`StoreError` for an unknown event or an illegal transition.
    """
    allowed = EVENT.predecessors(to_state)
    result = conn.execute(
        update(file_events)
        .where(file_events.c.id == event_id, file_events.c.state.in_(sorted(allowed)))
        .values(state=to_state, reason=reason, updated_at=now)
    )
    if result.rowcount == 1:
        return True
    current = conn.execute(select(file_events.c.state).where(file_events.c.id == event_id)).scalar()
    if current is None:
        raise StoreError(f"no event {event_id}")
    if current != to_state and current not in allowed:
        EVENT.check(current, to_state)
    return False


def list_rows(conn: Connection, state: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest events first, optionally only those in ``state``."""
    query = select(file_events).order_by(file_events.c.created_at.desc(), file_events.c.id.desc())
    if state is not None:
        query = query.where(file_events.c.state == state)
    return [dict(row) for row in conn.execute(query.limit(limit)).mappings()]


def by_relpath(conn: Connection, source: str, relpath: str) -> list[dict[str, Any]]:
    """Every recorded version of one file, oldest first."""
    query = (
        select(file_events)
        .where(file_events.c.source == source, file_events.c.relpath == relpath)
        .order_by(file_events.c.created_at, file_events.c.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def count_by_state(conn: Connection) -> dict[str, int]:
    """Number of events in each state (states with none are left out)."""
    query = select(file_events.c.state, func.count()).group_by(file_events.c.state)
    return {state: int(n) for state, n in conn.execute(query)}
