"""Alerting through real processes: ``filerelay alerts test|list|run`` and an agent killed
with SIGKILL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from filerelay.alerting.repo import AlertStore
from filerelay.store import Store, ensure_schema, make_engine
from filerelay.store.db import utcnow
from tests.alerting.conftest import SmtpServer
from tests.alerting.helpers import evaluator, finished, posts, write_config
from tests.chaos.helpers import kill, spawn, start_watcher
from tests.conftest import free_port, wait_for
from tests.e2e.harness import Relay, run_filerelay

FAILING_RULE = (
    "    - {name: failing, kind: failure_rate, threshold: 0.5, min_events: 2, window: 1h,"
    " channels: [hook]}\n"
)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    """A deployment dir whose config is written by the test (``relay.config``)."""
    r = Relay(tmp_path, "# written by the test\n")
    try:
        yield r
    finally:
        r.stop()


def use_config(relay: Relay, alerts: str, **kw: object) -> Path:
    path = write_config(relay.root, alerts, **kw)  # type: ignore[arg-type]
    assert path == relay.config
    return path


def stores(relay: Relay) -> tuple[Store, AlertStore]:
    engine = make_engine(relay.db_url)
    ensure_schema(engine, auto_upgrade=True)
    return Store(engine), AlertStore(engine)


def registered(alert_store: AlertStore, pid: int) -> bool:
    now = utcnow()
    return any(a.pid == pid for a in alert_store.agents(now, now - timedelta(hours=1), None))


def test_alerts_test_reports_each_channel(
    relay: Relay, httpserver: HTTPServer, smtp_server: SmtpServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    alerts = (
        "  channels:\n"
        f'    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
        "    mail: {type: email, connection: mail, to: [ops@example.com]}\n"
        f'    down: {{type: slack, webhook_url: "http://127.0.0.1:{free_port()}/x", timeout: 2s}}\n'
        f"  rules:\n{FAILING_RULE}"
    )
    use_config(relay, alerts, smtp_port=smtp_server.port)
    # when the channels are tested through the CLI
    done = run_filerelay(("alerts", "test", str(relay.config)), relay.root, relay.env)
    # then each channel's outcome is printed, and a failure exits 1
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stderr
    assert "hook: ok" in lines and "mail: ok" in lines
    assert any(line.startswith("down: error: slack webhook at") for line in lines), lines
    assert posts(httpserver, "/hook")[0]["status"] == "test"
    assert smtp_server.parsed(0)["Subject"] == "[TEST] channel-test (test)"
    # and each send is recorded
    _store, alert_store = stores(relay)
    rows = alert_store.notifications()
    assert sorted((r["channel"], r["status"]) for r in rows) == [
        ("down", "failed"),
        ("hook", "ok"),
        ("mail", "ok"),
    ]
    alert_store.engine.dispose()


@pytest.mark.slow  # real watcher, worker and evaluator processes
def test_alerts_list_shows_rule_states(relay: Relay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = f'    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
    quiet = "    - {name: quiet, kind: backlog, max_pending_age: 1h, channels: [hook]}\n"
    path = use_config(relay, f"  channels:\n{hook}  rules:\n{FAILING_RULE}{quiet}")
    store, alert_store = stores(relay)
    for _ in range(2):
        finished(store, "failed")
    assert evaluator(path, alert_store).evaluate_once().sent == 1
    alert_store.engine.dispose()
    # when the states are listed as JSON
    done = run_filerelay(("alerts", "list", "--json", "-c", str(path)), relay.root, relay.env)
    assert done.returncode == 0, done.stderr
    states = {s["rule"]: s for s in json.loads(done.stdout)}
    # then the firing rule shows since when, when it was last sent, and its instance
    failing = states["failing"]
    assert failing["state"] == "firing" and failing["escalated"] is False
    assert failing["firing_since"] and failing["last_sent"]
    assert [i["instance"] for i in failing["instances"]] == ["all"]
    assert states["quiet"]["state"] == "ok" and states["quiet"]["instances"] == []
    # and the table form names them too
    table = run_filerelay(("alerts", "list", "-c", str(path)), relay.root, relay.env)
    assert table.returncode == 0 and "failing" in table.stdout and "firing" in table.stdout


@pytest.mark.slow  # real processes; an outage and its end
def test_alerts_run_process_fires_and_resolves(relay: Relay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = f'    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
    use_config(relay, f"  interval: 200ms\n  channels:\n{hook}  rules:\n{FAILING_RULE}")
    store, alert_store = stores(relay)
    # given a running `filerelay alerts run`
    proc = spawn(relay, "alerts", "alerts", "run")
    proc.wait_log("alerts_starting", 60)
    # when events fail / then it fires, once
    for _ in range(2):
        finished(store, "failed")
    wait_for(lambda: posts(httpserver, "/hook"), 60, 0.1, what="a firing alert")
    # when successes dilute the failures / then it resolves
    for _ in range(4):
        finished(store, "succeeded")
    wait_for(lambda: len(posts(httpserver, "/hook")) >= 2, 60, 0.1, what="a resolved alert")
    assert [b["status"] for b in posts(httpserver, "/hook")] == ["firing", "resolved"]
    proc.stop()
    assert proc.proc is not None and proc.proc.returncode == 0, proc.log()
    assert len(alert_store.notifications()) == 2
    alert_store.engine.dispose()


@pytest.mark.slow  # real processes; waits out a heartbeat
def test_a_killed_watcher_raises_agent_offline(relay: Relay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = f'    hook: {{type: webhook, url: "{httpserver.url_for("/hook")}"}}\n'
    rule = "    - {name: gone, kind: agent_offline, after: 2s, channels: [hook]}\n"
    path = use_config(relay, f"  channels:\n{hook}  rules:\n{rule}")
    relay.extra_env["FILERELAY_HEARTBEAT_S"] = "0.5"
    _store, alert_store = stores(relay)
    ev = evaluator(path, alert_store)
    # given a real watcher heartbeating
    watcher = start_watcher(relay)
    assert watcher.proc is not None
    pid = watcher.proc.pid
    wait_for(lambda: registered(alert_store, pid), 60, 0.1, what="the watcher's heartbeat")
    assert ev.evaluate_once().firing == {"gone": 0}
    # when it is killed with SIGKILL (no clean stop)
    kill(watcher)
    # then the evaluator fires for it
    wait_for(lambda: ev.evaluate_once().firing == {"gone": 1}, 60, 0.2, what="agent_offline")
    [body] = posts(httpserver, "/hook")
    assert body["rule"] == "gone" and body["instances"][0]["labels"]["role"] == "watcher"
    assert f"pid {pid}" in body["instances"][0]["summary"]
    alert_store.engine.dispose()
