"""Scheduled reports (``reports.schedule``), run by the alert evaluator at each evaluation.

A schedule's latest slot is its ``at`` time (in its time zone) of today — of its weekday for
weekly reports, of the 1st for monthly ones. When that slot has passed, is at most
:data:`LATE_S` old (an evaluator down for longer skips it) and no send to a channel is
recorded since the slot, the report of the period ending at the slot is built and sent there.
Each send is recorded in ``notifications`` (kind ``report:<name>``), which is also what
keeps it from being sent twice, across restarts and evaluators.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from filerelay.alerting.channels import Channels
from filerelay.alerting.repo import AlertStore
from filerelay.alerting.reportsend import send_report
from filerelay.config.reports import ReportsConfig, ScheduledReport, SloConfig
from filerelay.reports.build import Period, build_report, period_for
from filerelay.reports.data import Filters, RollupReader
from filerelay.reports.render_html import render_html
from filerelay.reports.render_text import summary_lines

log = structlog.get_logger("filerelay.reports")

LATE_S = 6 * 3600.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def latest_slot(s: ScheduledReport, now: datetime) -> datetime:
    """The schedule's latest slot at or before ``now`` (UTC)."""
    zone = ZoneInfo(s.timezone)
    local = now.astimezone(zone)
    hh, mm = (int(x) for x in s.at.split(":"))
    slot = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if s.period == "week":
        slot -= timedelta(days=(local.weekday() - WEEKDAYS.index(s.weekday)) % 7)
    elif s.period == "month":
        slot = slot.replace(day=1)
    if slot > local:
        if s.period == "day":
            slot -= timedelta(days=1)
        elif s.period == "week":
            slot -= timedelta(days=7)
        else:
            slot = (slot - timedelta(days=1)).replace(day=1)
    return slot.astimezone(UTC)


class Scheduler:
    """Sends the due scheduled reports of one config."""

    def __init__(self, config: ReportsConfig, slos: list[SloConfig], channels: Channels) -> None:
        self.config = config
        self.slos = slos
        self.channels = channels

    def run_due(self, store: AlertStore, now: datetime) -> int:
        """Build and send every due report; how many sends were made (ok or failed)."""
        sent = 0
        for s in self.config.schedule:
            slot = latest_slot(s, now)
            if (now - slot).total_seconds() > LATE_S:
                continue
            done = {
                n["channel"] for n in store.notifications(slot) if n["kind"] == f"report:{s.name}"
            }
            todo = [c for c in s.channels if c not in done]
            if todo:
                sent += self._send(store, s, slot, todo, now)
        return sent

    def _send(
        self, store: AlertStore, s: ScheduledReport, slot: datetime, todo: list[str], now: datetime
    ) -> int:
        reader = RollupReader(store.engine)
        period: Period = period_for(s.period, None, slot, now)
        report: dict[str, Any] = build_report(
            reader, period, Filters(s.sources, s.routes, []), self.config, self.slos, now
        )
        span = f"{period.since:%Y-%m-%d %H:%M} - {period.until:%Y-%m-%d %H:%M} UTC"
        title = f"filerelay {s.period} report {span}"
        summary = "\n".join(line.strip() for line in summary_lines(report))
        if self.config.link:
            summary += f"\n{self.config.link}"
        html = render_html(report)
        for channel in todo:
            error: str | None = None
            try:
                send_report(self.channels, channel, title, summary, html, s.email)
            except Exception as exc:  # a channel that is down must not stop the others
                error = str(exc) or type(exc).__name__
                log.warning("report_send_failed", schedule=s.name, channel=channel, error=error)
            store.record_notification(
                now, kind=f"report:{s.name}", channel=channel, target=self.channels.target(channel),
                subject=title, body=summary, error=error,
            )  # fmt: skip
        return len(todo)
