"""The alert evaluator: measure every rule, move its instances through their states, send.

An instance's life (its row in ``alert_states``)::

    (condition holds) ─► pending ──(held for 'for')──► firing ──(clears)──► resolved ─► (row gone)
                           └──(clears)──► (row gone)       ▲                   │
                                                           └──(holds again)────┘

Sends, per rule and channel, in one message listing every firing instance the channel hears
about: when one of them was never sent to that channel, or last sent ``repeat_interval`` ago.
A rule's channels hear every instance; its ``escalate_to`` channels also hear the instances
firing for ``escalate_after`` or longer. Once an instance clears, every channel that heard it
fire gets a resolved message. A send that fails is recorded as failed and, since nothing was
marked delivered, tried again at the next evaluation; a failing channel or rule never stops
the others. Every send is recorded in ``notifications``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from filerelay.alerting.channels import Channels
from filerelay.alerting.measures import Inputs, Instance, Reading, measure
from filerelay.alerting.messages import FIRING, RESOLVED, Alert
from filerelay.alerting.repo import AlertStore
from filerelay.config.alerts import AlertsConfig
from filerelay.store.db import utcnow

log = structlog.get_logger("filerelay.alerts")

PENDING = "pending"


@dataclass
class Report:
    """What one evaluation did."""

    firing: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    rule_errors: int = 0


class Evaluator:
    """Evaluates the rules of one ``alerts:`` config against a store."""

    def __init__(
        self,
        config: AlertsConfig,
        store: AlertStore,
        channels: Channels,
        inputs: Inputs,
        scheduler: Any = None,
    ) -> None:
        self.config = config
        self.store = store
        self.channels = channels
        self.inputs = inputs
        self.scheduler = scheduler  # filerelay.reports.schedule.Scheduler, or None
        self.silenced: set[tuple[str, str]] = set()

    def evaluate_once(self, now: datetime | None = None) -> Report:
        """One evaluation of every rule at ``now`` (default: the current time)."""
        now = now or utcnow()
        report = Report()
        self.silenced = self.store.silenced(now)
        self.store.drop_rules_except({r.name for r in self.config.rules})
        for rule in self.config.rules:
            try:
                self._rule(rule, now, report)
            except Exception as exc:  # a store or broker outage: this rule, next interval
                report.rule_errors += 1
                log.warning("alert_rule_failed", rule=rule.name, error=str(exc), exc_info=True)
                self._keep_measure(rule, None, 0, now, str(exc) or type(exc).__name__)
        if self.scheduler is not None:
            try:
                report.sent += self.scheduler.run_due(self.store, now)
            except Exception as exc:  # the store is away: next interval
                log.warning("reports_schedule_failed", error=str(exc), exc_info=True)
        return report

    def _rule(self, rule: Any, now: datetime, report: Report) -> None:
        self.inputs.readings.pop(rule.name, None)
        current = {inst.key: inst for inst in measure(rule, self.inputs, now)}
        self._keep_measure(rule, self.inputs.readings.pop(rule.name, None), len(current), now)
        rows = {row["instance"]: row for row in self.store.states(rule.name)}
        for key, inst in current.items():
            rows[key] = _holds(rule, rows.get(key), inst, now)
        for key in set(rows) - set(current):
            row = rows[key]
            if row["status"] == PENDING:
                self.store.drop_state(rule.name, key)
                del rows[key]
            elif row["status"] == FIRING:
                row.update(status=RESOLVED, resolved_at=now, updated_at=now)
        ordered = [rows[key] for key in sorted(rows)]
        for channel in dict.fromkeys([*rule.channels, *rule.escalate_to]):
            self._notify(rule, channel, ordered, now, report)
        for row in rows.values():
            if row["status"] == RESOLVED and not row["deliveries"]:
                self.store.drop_state(rule.name, row["instance"])
            else:
                self.store.save_state(row)
        firing = sum(1 for row in rows.values() if row["status"] == FIRING)
        report.firing[rule.name] = firing

    def _keep_measure(
        self,
        rule: Any,
        reading: Reading | None,
        holding: int,
        now: datetime,
        error: str | None = None,
    ) -> None:
        """Keep what the rule measured (for the API, which runs elsewhere); never fatal."""
        reading = reading or Reading(None, None, "")
        row = {
            "rule": rule.name,
            "kind": rule.kind,
            "value": reading.value,
            "threshold": reading.threshold,
            "unit": reading.unit,
            "subject": reading.subject[:512] if reading.subject else None,
            "holding": holding,
            "error": error,
            "measured_at": now,
        }
        try:
            self.store.save_measure(row)
        except Exception as exc:  # the store is away: the states' write will say so too
            log.warning("alert_measure_not_kept", rule=rule.name, error=str(exc))

    def _notify(
        self, rule: Any, channel: str, rows: list[dict[str, Any]], now: datetime, report: Report
    ) -> None:
        heard = [r for r in rows if r["status"] == FIRING and channel in _channels_of(rule, r)]
        due = [
            r
            for r in heard
            if (rule.name, r["instance"]) not in self.silenced
            and _due(r, channel, now, rule.repeat_interval)
        ]
        escalated = channel not in rule.channels
        firing = Alert(rule.name, rule.kind, FIRING, heard, now, escalated)
        if due and self._send(channel, firing, report):
            for row in heard:
                row["deliveries"] = {**row["deliveries"], channel: now.isoformat()}
        gone = [r for r in rows if r["status"] == RESOLVED and channel in r["deliveries"]]
        if gone and self._send(channel, Alert(rule.name, rule.kind, RESOLVED, gone, now), report):
            for row in gone:
                row["deliveries"] = {k: v for k, v in row["deliveries"].items() if k != channel}

    def _send(self, channel: str, alert: Alert, report: Report) -> bool:
        """Send and record; True when the channel took it."""
        error: str | None = None
        try:
            self.channels.send(channel, alert)
        except Exception as exc:  # a channel that is down must not stop the evaluator
            error = str(exc) or type(exc).__name__
        self.store.record_notification(
            alert.now,
            kind=f"alert:{alert.status}",
            channel=channel,
            target=self.channels.target(channel),
            subject=alert.title,
            body=alert.text,
            error=error,
        )
        if error is None:
            report.sent += 1
            log.info("alert_sent", rule=alert.rule, status=alert.status, channel=channel)
            return True
        report.failed += 1
        log.warning("alert_send_failed", rule=alert.rule, channel=channel, error=error)
        return False


def _holds(rule: Any, row: dict[str, Any] | None, inst: Instance, now: datetime) -> dict[str, Any]:
    """The instance's row after an evaluation in which its condition holds."""
    if row is None:
        row = {
            "rule": rule.name,
            "instance": inst.key,
            "status": PENDING,
            "pending_since": now,
            "firing_since": None,
            "escalated_at": None,
            "resolved_at": None,
            "deliveries": {},
        }
    row.update(labels=inst.labels, value=inst.value, summary=inst.summary, updated_at=now)
    if row["status"] == RESOLVED:  # back before every channel heard it resolve
        row.update(status=FIRING, resolved_at=None)
    if row["status"] == PENDING and (now - row["pending_since"]).total_seconds() >= rule.for_s:
        row.update(status=FIRING, firing_since=now)
    after = rule.escalate_after
    firing_s = (now - row["firing_since"]).total_seconds() if row["firing_since"] else 0.0
    if row["status"] == FIRING and after is not None and row["escalated_at"] is None:
        row["escalated_at"] = now if firing_s >= after else None
    return row


def _channels_of(rule: Any, row: dict[str, Any]) -> list[str]:
    return [*rule.channels, *(rule.escalate_to if row["escalated_at"] is not None else [])]


def _due(row: dict[str, Any], channel: str, now: datetime, repeat_s: float) -> bool:
    """Never sent to ``channel``, or last sent ``repeat_s`` ago or more."""
    last = _last_sent(row, channel)
    return last is None or (now - last).total_seconds() >= repeat_s


def _last_sent(row: dict[str, Any], channel: str) -> datetime | None:
    value = row["deliveries"].get(channel)
    return datetime.fromisoformat(value) if value else None


def rule_state(rule: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``{rule, kind, state, firing_since, last_sent, escalated, instances}`` of one rule."""
    firing = [r for r in rows if r["status"] == FIRING]
    sent = [_last_sent(r, c) for r in rows for c in r["deliveries"]]
    since = [r["firing_since"] for r in firing if r["firing_since"] is not None]
    return {
        "rule": rule.name,
        "kind": rule.kind,
        "state": FIRING if firing else (PENDING if rows else "ok"),
        "firing_since": min(since).isoformat() if since else None,
        "last_sent": max(s for s in sent if s).isoformat() if any(sent) else None,
        "escalated": any(r["escalated_at"] is not None for r in firing),
        "instances": [
            {"instance": r["instance"], "status": r["status"], "summary": r["summary"]}
            for r in rows
        ],
    }
