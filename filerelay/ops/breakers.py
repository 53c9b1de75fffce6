"""Operator use cases of the destinations' circuit breakers: list them, close one by hand.

Shared by ``filerelay breakers`` and the HTTP API (``GET /api/v1/breakers``). A breaker that
an operator closes lets every waiting step through at its next try; it opens again after
``failures`` more consecutive failures if the destination is still down.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from filerelay.errors import UsageError
from filerelay.store import Store
from filerelay.store.db import utcnow
from filerelay.store.limits import OPEN, BreakerRow, LimitStore


def limit_store(store: Store) -> LimitStore:
    """The limits' facade over an open store (the same engine)."""
    return LimitStore(store.engine)


def breaker_view(row: BreakerRow, now: datetime) -> dict[str, Any]:
    """One breaker as plain data: state, consecutive failures, opens, until when it is open
    (``open_for_s``: seconds left), and its last error."""
    left = None
    if row.state == OPEN and row.open_until is not None:
        left = max(0.0, round((row.open_until - now).total_seconds(), 1))
    return {
        "destination": row.destination,
        "state": row.state,
        "failures": row.failures,
        "opens": row.opens,
        "opened_at": row.opened_at,
        "open_until": row.open_until if row.state == OPEN else None,
        "open_for_s": left,
        "last_error": row.last_error,
        "updated_at": row.updated_at,
    }


def list_breakers(store: Store, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every destination's breaker, by destination name."""
    when = now or utcnow()
    return [breaker_view(row, when) for row in limit_store(store).breakers()]


def close_breaker(store: Store, destination: str) -> str:
    """Close ``destination``'s breaker now; returns the state it left. Unknown destination:
    :class:`UsageError` naming the known ones."""
    limits = limit_store(store)
    known = [row.destination for row in limits.breakers()]
    if destination not in known:
        raise UsageError(
            f"no breaker for {destination!r} (known: {', '.join(known) or 'none yet'})"
        )
    left = limits.breaker_success(destination, utcnow())
    return left or "closed"
