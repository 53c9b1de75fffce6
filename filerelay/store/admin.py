"""``ControlStore``: the control plane's facade over the store — tokens, the audit log,
server secrets, config versions, log records, alert acknowledgements and cancels — one short
transaction per method, driver errors as :class:`~filerelay.errors.StoreError`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from filerelay.store import audit_tx, cancel, control
from filerelay.store.access import Transactions, translated
from filerelay.store.control import AuditFilter, LogFilter, TokenRecord
from filerelay.store.db import as_utc, utcnow


class ControlStore(Transactions):
    """The tables of the HTTP API and the operator's audit trail."""

    # --- tokens -------------------------------------------------------------------------

    @translated
    def add_token(self, values: dict[str, Any]) -> bool:
        """Insert a token row; False when its name is taken."""
        try:
            with self._write() as conn:
                control.insert_token(conn, values)
                audit_tx.write_pending(conn)
        except IntegrityError:
            return False
        return True

    @translated
    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token with this SHA-256, or None."""
        with self._read() as conn:
            return control.token_by_hash(conn, token_hash)

    @translated
    def token_by_name(self, name: str) -> TokenRecord | None:
        """The token named ``name``, or None."""
        with self._read() as conn:
            return control.token_by_name(conn, name)

    @translated
    def tokens(self) -> list[TokenRecord]:
        """Every token, oldest first."""
        with self._read() as conn:
            return control.tokens(conn)

    @translated
    def live_tokens(self) -> int:
        """How many tokens are neither revoked nor expired."""
        with self._read() as conn:
            return control.live_token_count(conn, utcnow())

    @translated
    def revoke_token(self, name: str) -> bool:
        """Revoke a token; False when there is no live token of that name."""
        with self._write() as conn:
            revoked = control.revoke_token(conn, name, utcnow())
            if revoked:
                audit_tx.write_pending(conn)
            return revoked

    @translated
    def touch_token(self, token_id: str) -> None:
        """Record that a token was used now."""
        with self._write() as conn:
            control.touch_token(conn, token_id, utcnow())

    @translated
    def secret(self, name: str, make: Any) -> str:
        """The server secret ``name``, created with ``make()`` by the first process asking."""
        with self._read() as conn:
            found = control.secret(conn, name)
        if found is not None:
            return found
        try:
            with self._write() as conn:
                control.insert_secret(conn, name, make(), utcnow())
        except IntegrityError:
            pass  # another server created it first
        with self._read() as conn:
            value = control.secret(conn, name)
        assert value is not None
        return value

    # --- audit --------------------------------------------------------------------------

    @translated
    def audit(self, values: dict[str, Any]) -> int:
        """Append one audit row; its id."""
        with self._write() as conn:
            return control.insert_audit(conn, {"at": utcnow(), **values})

    @translated
    def audit_page(
        self, flt: AuditFilter, limit: int, before_id: int | None
    ) -> list[dict[str, Any]]:
        """Audit rows, newest first."""
        with self._read() as conn:
            return control.audit_page(conn, flt, limit, before_id)

    @translated
    def prune_audit(self, before: datetime) -> int:
        """Delete audit rows older than ``before``; how many."""
        with self._write() as conn:
            return control.prune_audit(conn, as_utc(before))

    # --- config versions ----------------------------------------------------------------

    @translated
    def add_version(self, values: dict[str, Any]) -> int:
        """Record a config version; its number."""
        with self._write() as conn:
            number = control.insert_version(conn, {"created_at": utcnow(), **values})
            audit_tx.write_pending(conn)
            return number

    @translated
    def versions(self, limit: int = 100) -> list[dict[str, Any]]:
        """Config versions newest first (without their text)."""
        with self._read() as conn:
            return control.versions(conn, limit)

    @translated
    def version(self, number: int | None = None) -> dict[str, Any] | None:
        """One config version with its (masked) text; the latest for None."""
        with self._read() as conn:
            return control.version(conn, number)

    # --- log records --------------------------------------------------------------------

    @translated
    def add_logs(self, rows: list[dict[str, Any]], keep: int) -> None:
        """Append log records and drop all but the newest ``keep``."""
        with self._write() as conn:
            control.insert_logs(conn, rows)
            control.cap_logs(conn, keep)

    @translated
    def logs(
        self,
        flt: LogFilter,
        limit: int,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Log records, newest first (or oldest first after ``after_id``)."""
        with self._read() as conn:
            return control.log_page(conn, flt, limit, before_id, after_id)

    # --- alerts -------------------------------------------------------------------------

    @translated
    def acks(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Acknowledgements and silences by (rule, instance)."""
        with self._read() as conn:
            return control.acks(conn)

    @translated
    def set_ack(self, rule: str, instance: str, values: dict[str, Any]) -> None:
        """Record an acknowledgement or a silence of an alert instance."""
        with self._write() as conn:
            control.upsert_ack(conn, rule, instance, values)
            audit_tx.write_pending(conn)

    # --- cancel -------------------------------------------------------------------------

    @translated
    def cancel_pipeline(
        self, pipeline_id: int, reason: str, compensate: bool = False
    ) -> tuple[bool, int]:
        """Cancel a running pipeline, compensating its completed steps when asked (see
        :mod:`filerelay.store.cancel`)."""
        with self._write() as conn:
            done, running = cancel.request(conn, pipeline_id, reason, utcnow(), compensate)
            if done:
                audit_tx.write_pending(conn)
            return done, running
