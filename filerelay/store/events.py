"""Queries on ``file_events``: reading an event row and moving its state (recording one is
:mod:`~filerelay.store.admission`'s).

Functions here run inside a transaction the caller (:class:`~filerelay.store.repo.Store`)
opened; they never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, literal, select, update
from sqlalchemy.engine import RowMapping

from filerelay.errors import StoreError
from filerelay.store import rollups
from filerelay.store.db import UTCDateTime
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


def transition_many(
    conn: Connection, ends: Sequence[tuple[str, str, str | None]], now: datetime
) -> None:
    """:func:`transition` for events whose rows the caller holds locked and has seen in a state
    that allows it: ``(event id, state, reason)``, one ``executemany`` per target state."""
    for to_state in sorted({to for _, to, _ in ends}):
        params = [
            {"eid": eid, "st": to, "why": why, "now": now}
            for eid, to, why in ends
            if to == to_state
        ]
        moved = conn.execute(_moving_to(to_state), params).rowcount
        if conn.dialect.supports_sane_multi_rowcount and moved != len(params):
            raise StoreError(f"events changed under the batch's lock ({moved} of {len(params)})")
        if to_state in rollups.FINAL_STATES:
            for eid, to, _ in ends:
                if to == to_state:
                    rollups.record_finish(conn, eid, to_state, now)


_MOVES: dict[str, Any] = {}


def _moving_to(to_state: str) -> Any:
    """The ``UPDATE`` moving an event to ``to_state`` from a state allowing it, built once."""
    statement = _MOVES.get(to_state)
    if statement is None:
        allowed = sorted(EVENT.predecessors(to_state))
        statement = _MOVES[to_state] = (
            update(file_events)
            .where(
                file_events.c.id == bindparam("eid"),
                # literals, not an expanding IN: executemany cannot expand
                file_events.c.state.in_([literal(a) for a in allowed]),
            )
            .values(
                state=bindparam("st"),
                reason=bindparam("why"),
                updated_at=bindparam("now", type_=UTCDateTime()),
            )
        )
    return statement
