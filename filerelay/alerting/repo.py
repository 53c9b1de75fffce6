"""``AlertStore``: what the alert evaluator reads and writes — measures, instance states and
the record of every send (``notifications``). Short transactions, errors translated, like
:class:`~filerelay.store.repo.Store` (whose engine it shares).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from filerelay.alerting import queries
from filerelay.store import agents as agent_rows
from filerelay.store import listing
from filerelay.store.access import Transactions, translated
from filerelay.store.limits import BreakerRow, LimitStore
from filerelay.store.rows import AgentRow, PendingEvent
from filerelay.store.schema import alert_acks, alert_measures, alert_states, notifications

EXCERPT_CHARS = 2000


class AlertStore(Transactions):
    """Alert measures and state on one metadata database."""

    # --- measures ---------------------------------------------------------------------------

    @translated
    def failure_counts(self, since: datetime, over: str, by: str) -> dict[str, tuple[int, int]]:
        """``{group: (failed, finished)}`` since ``since``."""
        with self._read() as conn:
            return queries.failure_counts(conn, since, over, by)

    @translated
    def latencies(self, since: datetime, by: str) -> dict[str, list[float]]:
        """End-to-end latencies (s) of succeeded work since ``since``, per group."""
        with self._read() as conn:
            return queries.latencies(conn, since, by)

    @translated
    def last_file_at(self) -> tuple[dict[str, datetime], dict[str, datetime]]:
        """Per source: the newest event's time, and when a watcher last registered it."""
        with self._read() as conn:
            return queries.last_file_at(conn), queries.registered_sources(conn)

    @translated
    def compensation_failures(self, since: datetime) -> dict[str, int]:
        """Per route: pipelines ended ``compensation_failed`` since ``since``."""
        with self._read() as conn:
            return queries.compensation_failures(conn, since)

    def breakers(self) -> list[BreakerRow]:
        """Every destination's circuit breaker."""
        return LimitStore(self.engine).breakers()

    @translated
    def oldest_pending(self) -> PendingEvent | None:
        """The oldest queued or processing event, or None."""
        with self._read() as conn:
            return listing.oldest_pending(conn)

    @translated
    def agents(self, now: datetime, seen_since: datetime, role: str | None) -> list[AgentRow]:
        """Agents heard from since ``seen_since`` (each with its ``state`` at ``now``)."""
        with self._read() as conn:
            return agent_rows.rows(conn, now, seen_since, role=role)

    # --- instance states --------------------------------------------------------------------

    @translated
    def states(self, rule: str | None = None) -> list[dict[str, Any]]:
        """Stored instances (of ``rule``), by rule and instance."""
        query = select(alert_states).order_by(alert_states.c.rule, alert_states.c.instance)
        if rule is not None:
            query = query.where(alert_states.c.rule == rule)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    @translated
    def silenced(self, now: datetime) -> set[tuple[str, str]]:
        """(rule, instance) pairs an operator silenced until after ``now`` (no sends)."""
        query = select(alert_acks.c.rule, alert_acks.c.instance).where(
            alert_acks.c.silenced_until > now
        )
        with self._read() as conn:
            return {(r, i) for r, i in conn.execute(query)}

    @translated
    def save_state(self, row: dict[str, Any]) -> None:
        """Insert or replace one instance's row (keyed by rule and instance)."""
        key = (alert_states.c.rule == row["rule"]) & (alert_states.c.instance == row["instance"])
        with self._write() as conn:
            found = conn.execute(select(alert_states.c.rule).where(key)).first()
            if found is None:
                conn.execute(insert(alert_states).values(**row))
            else:
                values = {k: v for k, v in row.items() if k not in ("rule", "instance")}
                conn.execute(update(alert_states).where(key).values(**values))

    @translated
    def drop_state(self, rule: str, instance: str) -> None:
        """Forget one instance."""
        with self._write() as conn:
            conn.execute(
                delete(alert_states).where(
                    (alert_states.c.rule == rule) & (alert_states.c.instance == instance)
                )
            )

    @translated
    def drop_rules_except(self, rules: set[str]) -> int:
        """Forget the instances and measures of rules no longer configured."""
        with self._write() as conn:
            query, measures = delete(alert_states), delete(alert_measures)
            if rules:
                query = query.where(alert_states.c.rule.not_in(sorted(rules)))
                measures = measures.where(alert_measures.c.rule.not_in(sorted(rules)))
            conn.execute(measures)
            return int(conn.execute(query).rowcount or 0)

    # --- each rule's last measure ------------------------------------------------------------

    @translated
    def save_measure(self, row: dict[str, Any]) -> None:
        """Insert or replace a rule's last measure (keyed by rule)."""
        key = alert_measures.c.rule == row["rule"]
        with self._write() as conn:
            values = {k: v for k, v in row.items() if k != "rule"}
            if not conn.execute(update(alert_measures).where(key).values(**values)).rowcount:
                conn.execute(insert(alert_measures).values(**row))

    @translated
    def measures(self) -> dict[str, dict[str, Any]]:
        """Each rule's last measure, by rule name."""
        with self._read() as conn:
            return {r["rule"]: dict(r) for r in conn.execute(select(alert_measures)).mappings()}

    # --- notifications ----------------------------------------------------------------------

    @translated
    def record_notification(
        self,
        now: datetime,
        *,
        kind: str,
        channel: str,
        target: str,
        subject: str,
        body: str,
        error: str | None,
    ) -> None:
        """Record one send, ``ok`` or ``failed`` with its error."""
        with self._write() as conn:
            conn.execute(
                insert(notifications).values(
                    created_at=now,
                    kind=kind[:64],
                    channel=channel[:64],
                    target=target[:1024],
                    subject=subject[:1024],
                    body_excerpt=body[:EXCERPT_CHARS],
                    status="ok" if error is None else "failed",
                    error=error,
                )
            )

    @translated
    def notifications(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Sends recorded (since ``since``), oldest first."""
        query = select(notifications).order_by(notifications.c.id)
        if since is not None:
            query = query.where(notifications.c.created_at >= since)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def window_start(now: datetime, seconds: float) -> datetime:
    """The start of a look-back window of ``seconds`` ending at ``now``."""
    return now - timedelta(seconds=seconds)
