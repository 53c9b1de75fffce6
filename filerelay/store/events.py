"""Queries on ``file_events``: reading an event row and moving its state (recording one is
:mod:`~filerelay.store.admission`'s).

Functions here run inside a transaction the caller (:class:`~filerelay.store.repo.Store`)
opened; they never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.engine import RowMapping

from filerelay.errors import StoreError
from filerelay.store import rollups
from filerelay.store.schema import file_events
from filerelay.store.states import EVENT


def get(conn: Connection, event_id: str, lock: bool = False) -> RowMapping | None:
    """The event row, locked for update when ``lock`` (PostgreSQL; SQLite locks the file)."""
    query = select(file_events).where(file_events.c.id == event_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


_STATE_FOR_UPDATE = (
    select(file_events.c.state).where(file_events.c.id == bindparam("eid")).with_for_update()
)


def state_for_update(conn: Connection, event_id: str) -> str | None:
    """The event's state, its row locked for update (the one column settling it needs: the
    whole row decodes every column); None for an unknown event."""
    state = conn.execute(_STATE_FOR_UPDATE, {"eid": event_id}).scalar()
    return None if state is None else str(state)


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
        if to_state in rollups.FINAL_STATES:  # the one place a final state is recorded
            rollups.record_finish(conn, event_id, to_state, now)
        return True
    current = conn.execute(select(file_events.c.state).where(file_events.c.id == event_id)).scalar()
    if current is None:
        raise StoreError(f"no event {event_id}")
    if current != to_state and current not in allowed:
        EVENT.check(current, to_state)
    return False
