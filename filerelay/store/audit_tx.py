"""The audit row of a mutation written in the transaction of its effect.

:func:`filerelay.ops.audit.audited` makes the row (outcome ``ok``) *pending* for the use case
it wraps (a context variable: the thread or task running it). A store write that *is* the
effect — a pause, a cancel, a token made or revoked, an acknowledgement, a config version —
calls :func:`write_pending` in its own transaction once the effect happened, so the row
commits with the effect or not at all: a failed effect leaves no ``ok`` row, and a committed
one cannot lack its row. :meth:`~filerelay.store.access.Transactions._write` confirms it on
commit; ``audited`` then writes nothing more. A use case whose effect is not a store write
(an upload, a published message) gets its row written after it, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from filerelay.store import control
from filerelay.store.db import utcnow


@dataclass
class PendingAudit:
    """An audit row waiting for its effect's transaction."""

    values: dict[str, Any]
    tentative: bool = False  # inserted in a transaction not yet committed
    written: bool = False  # committed with its effect
    rows: list[int] = field(default_factory=list)


_PENDING: ContextVar[PendingAudit | None] = ContextVar("filerelay_pending_audit", default=None)


@contextmanager
def pending(values: dict[str, Any]) -> Iterator[PendingAudit]:
    """Make ``values`` (an audit row without its time) the pending row while the block runs."""
    row = PendingAudit(values)
    token = _PENDING.set(row)
    try:
        yield row
    finally:
        _PENDING.reset(token)


def write_pending(conn: Connection) -> None:
    """Insert the pending row (if any, and not written yet) in ``conn``'s transaction: call
    it where the effect is known to have happened."""
    row = _PENDING.get()
    if row is None or row.written or row.tentative:
        return
    row.rows.append(control.insert_audit(conn, {"at": utcnow(), **row.values}))
    row.tentative = True


def began() -> None:
    """A write transaction starts: a row inserted by an earlier one that rolled back is
    pending again."""
    row = _PENDING.get()
    if row is not None and row.tentative and not row.written:
        row.tentative = False


def committed() -> None:
    """The write transaction committed: its pending row, if it wrote one, is written."""
    row = _PENDING.get()
    if row is not None and row.tentative:
        row.written = True
