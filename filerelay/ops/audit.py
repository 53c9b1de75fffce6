"""The audit log: one row per mutation (API or CLI) and per refused authentication.

A row names the actor (token name, or ``user@host`` for the CLI), its role (``cli`` for a
command), the remote address, the action, its target, its parameters with secrets masked
(by key name here, and by value by the store's sanitizing column types) and the outcome
(``ok`` or the error). :func:`audited` wraps a use case so its outcome is recorded whatever
it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from filerelay.errors import StoreError
from filerelay.redaction import MASK, is_secret_key
from filerelay.store import audit_tx
from filerelay.store.admin import ControlStore
from filerelay.store.control import AuditFilter
from filerelay.store.db import utcnow

log = structlog.get_logger("filerelay.audit")

CLI_ROLE = "cli"
MAX_PARAM_CHARS = 2000


@dataclass(frozen=True)
class Actor:
    """Who did it: a token's name and role and the client's address, or a CLI user."""

    name: str
    role: str
    address: str | None = None


def cli_actor() -> Actor:
    """The OS user running a command, as the actor of its audit rows."""
    from filerelay.ops.control import operator

    return Actor(operator(), CLI_ROLE)


def masked(params: Any) -> Any:
    """``params`` with the values of secret-named keys (``token``, ``password`` …) masked."""
    if isinstance(params, dict):
        return {
            str(k): (MASK if is_secret_key(str(k)) and v is not None else masked(v))
            for k, v in params.items()
        }
    if isinstance(params, list | tuple):
        return [masked(v) for v in params]
    if isinstance(params, str) and len(params) > MAX_PARAM_CHARS:
        return params[:MAX_PARAM_CHARS] + "…"
    return params


def _values(
    actor: Actor, action: str, target: str | None, params: dict[str, Any] | None, outcome: str
) -> dict[str, Any]:
    return {
        "actor": actor.name[:255],
        "role": actor.role,
        "address": actor.address,
        "action": action,
        "target": target[:1024] if target else None,
        "params": masked(params) if params else None,
        "outcome": outcome[:1024],
    }


def record(
    store: ControlStore,
    actor: Actor,
    action: str,
    target: str | None,
    params: dict[str, Any] | None,
    outcome: str,
) -> None:
    """Append one row; a store failure is logged, never raised (the effect already happened)."""
    try:
        store.audit(_values(actor, action, target, params, outcome))
    except StoreError as exc:
        log.error("audit_not_recorded", action=action, error=str(exc))


@contextmanager
def audited(
    store: ControlStore,
    actor: Actor,
    action: str,
    target: str | None = None,
    params: dict[str, Any] | None = None,
) -> Iterator[None]:
    """Record the wrapped use case's outcome: ``ok``, or the error it raised (re-raised).

    Where the effect is a store write that takes part (:mod:`filerelay.store.audit_tx`), the
    ``ok`` row is written in the effect's own transaction; otherwise after the use case."""
    with audit_tx.pending(_values(actor, action, target, params, "ok")) as row:
        try:
            yield
        except Exception as exc:
            record(store, actor, action, target, params, f"error: {exc}")
            raise
    if not row.written:
        record(store, actor, action, target, params, "ok")


@dataclass(frozen=True)
class AuditPage:
    """Audit rows newest first; ``next_cursor`` None on the last page."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


def list_audit(
    store: ControlStore, flt: AuditFilter, limit: int = 50, cursor: str | None = None
) -> AuditPage:
    """A page of audit rows matching ``flt`` (cursor: from the previous page)."""
    from filerelay.errors import UsageError

    before = None
    if cursor:
        if not cursor.isdigit():
            raise UsageError(f"cursor: not a cursor from a previous page: {cursor!r}")
        before = int(cursor)
    rows = store.audit_page(flt, limit + 1, before)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, str(rows[-1]["id"]) if more and rows else None)


def prune(store: ControlStore, older_than: timedelta) -> int:
    """Delete audit rows older than ``older_than``."""
    return store.prune_audit(utcnow() - older_than)


@contextmanager
def cli_audited(
    settings: Any, action: str, target: str | None = None, params: dict[str, Any] | None = None
) -> Iterator[None]:
    """:func:`audited` for a CLI command, with the OS user as the actor, on the settings'
    store (a store that cannot be opened is the command's own error to report)."""
    from filerelay.ops import open_store

    try:
        control = ControlStore(open_store(settings, existing=True).engine)
    except Exception:
        yield
        return
    with audited(control, cli_actor(), action, target, params):
        yield
