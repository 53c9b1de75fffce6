"""failure_rate end to end: a real HTTP receiver and a real SMTP server hear it fire once,
again after repeat_interval, and resolve; every send is in ``notifications``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer

from filerelay.alerting.repo import AlertStore
from filerelay.store import Store
from filerelay.store.db import utcnow
from tests.alerting.conftest import SmtpServer
from tests.alerting.helpers import (
    SECRET,
    evaluator,
    finished,
    posts,
    verify_signature,
    write_config,
)

RULE = """\
  channels:
    hook: {{type: webhook, url: "{url}", secret: "{secret}"}}
    mail: {{type: email, connection: mail, to: [ops@example.com]}}
  rules:
    - name: failing
      kind: failure_rate
      threshold: 0.5
      min_events: 4
      window: 2h
      repeat_interval: 30m
      channels: [hook, mail]
"""


def test_failure_rate_fires_once_repeats_and_resolves(
    stores: tuple[Store, AlertStore],
    httpserver: HTTPServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    store, alert_store = stores
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    url = httpserver.url_for("/alerts")
    path = write_config(tmp_path, RULE.format(url=url, secret=SECRET), smtp_port=smtp_server.port)
    ev = evaluator(path, alert_store)
    # given 3 of 6 finished events failed
    for state in ["failed", "succeeded"] * 3:
        finished(store, state)
    t0 = utcnow()
    # when the rule is evaluated / then both channels hear it fire, once
    report = ev.evaluate_once(t0)
    assert report.firing == {"failing": 1} and report.sent == 2 and report.failed == 0
    bodies = posts(httpserver, "/alerts")
    assert [b["status"] for b in bodies] == ["firing"]
    assert bodies[0]["rule"] == "failing" and bodies[0]["instances"][0]["key"] == "all"
    assert "3 of 6 events failed (50%)" in bodies[0]["instances"][0]["summary"]
    request = httpserver.log[0][0]
    assert verify_signature(request.headers, request.get_data())
    assert len(smtp_server.mailbox.messages) == 1
    mail = smtp_server.parsed(0)
    assert mail["Subject"] == "[FIRING:1] failing (failure_rate)"
    assert "3 of 6 events failed" in mail.get_content()
    # when evaluated again inside repeat_interval / then nothing is sent
    assert ev.evaluate_once(t0 + timedelta(minutes=1)).sent == 0
    assert len(posts(httpserver, "/alerts")) == 1 and len(smtp_server.mailbox.messages) == 1
    # when repeat_interval has passed / then both hear it again
    assert ev.evaluate_once(t0 + timedelta(minutes=31)).sent == 2
    assert [b["status"] for b in posts(httpserver, "/alerts")] == ["firing", "firing"]
    assert len(smtp_server.mailbox.messages) == 2
    # when the failures are diluted by successes / then both hear it resolve
    for _ in range(10):
        finished(store, "succeeded")
    report = ev.evaluate_once(t0 + timedelta(minutes=32))
    assert report.firing == {"failing": 0} and report.sent == 2
    assert [b["status"] for b in posts(httpserver, "/alerts")] == ["firing", "firing", "resolved"]
    assert smtp_server.parsed(2)["Subject"] == "[RESOLVED] failing (failure_rate)"
    # and the state is gone, and every send is recorded
    assert alert_store.states() == []
    assert ev.evaluate_once(t0 + timedelta(minutes=33)).sent == 0
    rows = alert_store.notifications()
    assert [(r["kind"], r["channel"], r["status"]) for r in rows] == [
        ("alert:firing", "hook", "ok"),
        ("alert:firing", "mail", "ok"),
        ("alert:firing", "hook", "ok"),
        ("alert:firing", "mail", "ok"),
        ("alert:resolved", "hook", "ok"),
        ("alert:resolved", "mail", "ok"),
    ]
    assert rows[0]["target"] == f"webhook http://{httpserver.host}:{httpserver.port}"
    assert rows[1]["target"] == "email ops@example.com"


def test_state_survives_an_evaluator_restart(
    sqlite_stores: tuple[Store, AlertStore], httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = sqlite_stores
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    alerts = (
        f'  channels:\n    hook: {{type: webhook, url: "{httpserver.url_for("/alerts")}"}}\n'
        "  rules:\n    - {name: failing, kind: failure_rate, threshold: 0.5, min_events: 2,"
        " window: 2h, repeat_interval: 30m, channels: [hook]}\n"
    )
    path = write_config(tmp_path, alerts)
    for _ in range(3):
        finished(store, "failed")
    t0 = utcnow()
    # given an evaluator that sent the alert
    assert evaluator(path, alert_store).evaluate_once(t0).sent == 1
    # when a new evaluator (a restarted process, its own engine) evaluates
    from filerelay.store import make_engine

    engine = make_engine(str(alert_store.engine.url))
    try:
        restarted = evaluator(path, AlertStore(engine))
        # then it does not fire again inside repeat_interval, but repeats after it
        assert restarted.evaluate_once(t0 + timedelta(minutes=5)).sent == 0
        assert restarted.evaluate_once(t0 + timedelta(minutes=31)).sent == 1
    finally:
        engine.dispose()
    assert [b["status"] for b in posts(httpserver, "/alerts")] == ["firing", "firing"]


def test_a_channel_that_is_down_is_recorded_and_retried(
    sqlite_stores: tuple[Store, AlertStore], httpserver: HTTPServer, tmp_path: Path
) -> None:
    from tests.conftest import free_port

    store, alert_store = sqlite_stores
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    dead = f"http://127.0.0.1:{free_port()}/hook"
    alerts = (
        "  channels:\n"
        f'    chat: {{type: slack, webhook_url: "{httpserver.url_for("/slack")}"}}\n'
        f'    down: {{type: webhook, url: "{dead}", timeout: 2s}}\n'
        "  rules:\n    - {name: failing, kind: failure_rate, threshold: 0.5, min_events: 2,"
        " window: 2h, channels: [chat, down]}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts), alert_store)
    for _ in range(2):
        finished(store, "failed")
    t0 = utcnow()
    # when one channel is down / then the other still hears it, and the failure is recorded
    report = ev.evaluate_once(t0)
    assert (report.sent, report.failed, report.rule_errors) == (1, 1, 0)
    assert posts(httpserver, "/slack")[0]["text"].startswith("[FIRING:1] failing")
    # and the next evaluation retries only the channel that failed
    report = ev.evaluate_once(t0 + timedelta(seconds=15))
    assert (report.sent, report.failed) == (0, 1)
    rows = alert_store.notifications()
    assert [(r["channel"], r["status"]) for r in rows] == [
        ("chat", "ok"),
        ("down", "failed"),
        ("down", "failed"),
    ]
    assert "cannot connect" in rows[1]["error"] and "/hook" not in rows[1]["error"]
