"""Scheduled reports, sent by the alert evaluator: at their local time, once per slot
(recorded in ``notifications``), the HTML report attached to the e-mail and a summary with
the link on the webhook; a missed slot long past is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer

from filerelay.alerting.repo import AlertStore
from filerelay.config.reports import ScheduledReport
from filerelay.reports.schedule import latest_slot
from filerelay.store import Store
from tests.alerting.helpers import evaluator, posts, write_config
from tests.reports.conftest import T0, Clock, SmtpServer, traffic


def test_latest_slot_in_a_time_zone() -> None:
    # given 07:30 in Shanghai (23:30 UTC the day before)
    daily = ScheduledReport(name="d", at="07:30", timezone="Asia/Shanghai", channels=["x"])
    weekly = daily.model_copy(update={"period": "week", "weekday": "mon"})
    monthly = daily.model_copy(update={"period": "month"})
    now = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # Wednesday 08:00 in Shanghai
    # then the slots are that morning's, Monday's and the 1st's
    assert latest_slot(daily, now) == datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert latest_slot(weekly, now) == datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert latest_slot(monthly, now) == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    # and just before 07:30 the daily slot is the day before's
    early = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert latest_slot(daily, early) == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def test_daily_report_goes_to_mail_and_webhook_once(
    clocked_store: tuple[Store, AlertStore],
    clock: Clock,
    httpserver: HTTPServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    store, alert_store = clocked_store
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    alerts = (
        "  channels:\n"
        f'    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
        "    mail: {type: email, connection: mail, to: [ops@relay.example]}\n"
    )
    path = write_config(tmp_path, alerts, smtp_port=smtp_server.port)
    path.write_text(
        path.read_text() + "reports:\n  link: https://relay.example/reports\n  schedule:\n"
        "    - {name: daily, at: '10:00', timezone: UTC, channels: [hook, mail]}\n"
    )
    ev = evaluator(path, alert_store)
    # given a day of traffic, 2 of 10 files failed
    traffic(store, clock, T0 - timedelta(hours=5), 10, failed=2)
    # when evaluated before 10:00 / then nothing is sent
    ev.evaluate_once(T0 - timedelta(minutes=1))
    assert not posts(httpserver, "/hook") and not smtp_server.mailbox.messages
    # when evaluated after 10:00, twice / then one summary and one mail
    ev.evaluate_once(T0 + timedelta(minutes=1))
    ev.evaluate_once(T0 + timedelta(minutes=2))
    [summary] = posts(httpserver, "/hook")
    assert summary["kind"] == "report" and "failure_rate 20.0%" in " ".join(summary["text"].split())
    assert summary["text"].endswith("https://relay.example/reports")
    [_] = smtp_server.mailbox.messages
    mail = smtp_server.parsed()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "report.html"
    assert "<svg" in attachment.get_content()
    sends = [n for n in alert_store.notifications() if n["kind"] == "report:daily"]
    assert sorted(n["channel"] for n in sends) == ["hook", "mail"]
    assert all(n["status"] == "ok" for n in sends)
    # when the evaluator comes back more than 6 hours after a slot / then it is skipped
    ev.evaluate_once(T0 + timedelta(days=1, hours=7))
    assert len(posts(httpserver, "/hook")) == 1
