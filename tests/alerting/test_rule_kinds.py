"""One test per rule kind beside failure_rate, and escalation, each against real receivers,
evaluated at chosen times (``evaluate_once(now)``)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer

from filerelay.alerting.repo import AlertStore
from filerelay.model import StepPhase
from filerelay.store import StepPlan, Store
from filerelay.store.db import utcnow
from tests.alerting.helpers import evaluator, finished, posts, write_config
from tests.store.store_helpers import admit, fail_step, make_event, plan, step


def hook(server: HTTPServer, name: str = "hook") -> str:
    server.expect_request(f"/{name}", method="POST").respond_with_data("ok")
    return f'    {name}: {{type: webhook, url: "{server.url_for("/" + name)}"}}\n'


def test_silent_source_fires_for_a_source_without_files(
    sqlite_stores: tuple[Store, AlertStore], httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = sqlite_stores
    alerts = (
        f"  channels:\n{hook(httpserver)}  rules:\n"
        "    - {name: quiet, kind: silent_source, after: 30m, channels: [hook]}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts, sources="cam,scanner"), alert_store)
    # given a file from cam now, and scanner registered by a watcher but never sending
    finished(store, "succeeded", source="cam")
    store.register_source("scanner", str(tmp_path / "in"))
    t0 = utcnow()
    # when evaluated within the silence limit / then nothing fires
    assert ev.evaluate_once(t0 + timedelta(minutes=10)).firing == {"quiet": 0}
    # when evaluated after it / then both sources fire, in one message
    assert ev.evaluate_once(t0 + timedelta(minutes=31)).firing == {"quiet": 2}
    [body] = posts(httpserver, "/hook")
    keys = [i["key"] for i in body["instances"]]
    assert keys == ["source=cam", "source=scanner"]
    assert "no file ever" in body["instances"][1]["summary"]


def test_backlog_fires_on_queue_depth_and_pending_age(
    sqlite_stores: tuple[Store, AlertStore],
    httpserver: HTTPServer,
    tmp_path: Path,
    redis_url: str,
) -> None:
    from filerelay.settings import load_settings
    from filerelay.tasks import make_celery
    from filerelay.tasks.publisher import send_ingest

    store, alert_store = sqlite_stores
    alerts = (
        f"  channels:\n{hook(httpserver)}  rules:\n"
        "    - {name: behind, kind: backlog, max_queue_depth: 3, max_pending_age: 5m,"
        " channels: [hook]}\n"
    )
    path = write_config(tmp_path, alerts)
    ev = evaluator(path, alert_store, broker_url=redis_url, state_dir=tmp_path / "state")
    # given 5 ingest messages waiting in the real broker queue, no worker, and one event queued
    app = make_celery(load_settings(config=path, broker_url=redis_url, state_dir=tmp_path))
    for i in range(5):
        send_ingest(app, make_event(f"in/{i}.bin"), "filerelay")
    finished(store, "queued")
    # when evaluated now / then the queue depth fires (the event is young)
    assert ev.evaluate_once(utcnow()).firing == {"behind": 1}
    assert posts(httpserver, "/hook")[0]["instances"][0]["value"] == 5
    # when evaluated 10 minutes on / then the old pending event fires too (a new instance)
    assert ev.evaluate_once(utcnow() + timedelta(minutes=10)).firing == {"behind": 2}
    second = posts(httpserver, "/hook")[-1]
    assert [i["key"] for i in second["instances"]] == ["oldest_pending", "queue"]


def _compensation_failed(store: Store, relpath: str) -> int:
    """A pipeline through the Store API: its step fails, then its on_failure step fails."""
    event = make_event(relpath)
    [pid] = admit(store, event, plan("r", step(0, "upload", max_attempts=1)))
    [sid] = store.advance(pid).next_steps
    recovery = [StepPlan(1, 0, "on_failure.0-move", "move", 1, phase=StepPhase.ON_FAILURE.value)]
    fail_step(store, sid, "upload refused", recovery)
    [undo] = store.advance(pid).next_steps
    assert fail_step(store, undo, "quarantine full").pipeline_status == "compensation_failed"
    assert store.advance(pid).pipeline_status == "compensation_failed"
    return pid


def test_compensation_failures_fire_per_route(
    stores: tuple[Store, AlertStore], httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = stores
    alerts = (
        f"  channels:\n{hook(httpserver)}  rules:\n"
        "    - {name: undo-failed, kind: compensation_failures, window: 1h, channels: [hook]}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts), alert_store)
    assert ev.evaluate_once().firing == {"undo-failed": 0}
    # given a pipeline that ended compensation_failed
    _compensation_failed(store, "in/x.bin")
    # when evaluated / then it fires for its route
    assert ev.evaluate_once().firing == {"undo-failed": 1}
    [body] = posts(httpserver, "/hook")
    assert body["instances"][0]["key"] == "route=r"
    assert "1 pipeline(s) ended compensation_failed" in body["instances"][0]["summary"]
    # when the window has passed / then it resolves
    assert ev.evaluate_once(utcnow() + timedelta(hours=2)).firing == {"undo-failed": 0}
    assert posts(httpserver, "/hook")[-1]["status"] == "resolved"


def test_latency_slo_fires_when_p95_is_above_the_limit(
    stores: tuple[Store, AlertStore], httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = stores
    alerts = (
        f"  channels:\n{hook(httpserver)}  rules:\n"
        "    - {name: slow, kind: latency_slo, by: source, max_latency: 1m, min_events: 10,"
        " window: 1h, channels: [hook]}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts), alert_store)
    # given 19 files done within a second of detection and 1 after two minutes: p95 is fast
    for _ in range(19):
        finished(store, "succeeded", detected_at=time.time())
    finished(store, "succeeded", detected_at=time.time() - 120)
    assert ev.evaluate_once().firing == {"slow": 0}
    # when one more slow file makes the slow ones 2 of 21 (above 5%) / then p95 fires
    finished(store, "succeeded", detected_at=time.time() - 300)
    assert ev.evaluate_once().firing == {"slow": 1}
    [body] = posts(httpserver, "/hook")
    assert body["instances"][0]["key"] == "source=cam"
    assert body["instances"][0]["value"] >= 120
    assert "p95 latency 2m" in body["instances"][0]["summary"]


def test_escalation_tells_escalate_to_once_then_by_repeat_interval(
    sqlite_stores: tuple[Store, AlertStore], httpserver: HTTPServer, tmp_path: Path
) -> None:
    store, alert_store = sqlite_stores
    # a signed DingTalk robot as the escalation channel
    secret = "SEC0123456789abcdef"
    received: list[dict[str, str]] = []

    def robot(request):
        from werkzeug import Response

        from filerelay.channels.dingtalk import sign

        ts = int(request.args["timestamp"])
        received.append({"ok": str(request.args["sign"] == sign(secret, ts)), **request.json})
        return Response('{"errcode": 0, "errmsg": "ok"}', content_type="application/json")

    httpserver.expect_request("/robot/send").respond_with_handler(robot)
    robot_url = httpserver.url_for("/robot/send") + "?access_token=tok"
    alerts = (
        f"  channels:\n{hook(httpserver, 'chat')}"
        f'    pager: {{type: dingtalk, webhook_url: "{robot_url}", secret: "{secret}"}}\n'
        "  rules:\n    - {name: failing, kind: failure_rate, threshold: 0.5, min_events: 2,"
        " window: 3h, repeat_interval: 1h, escalate_after: 10m, escalate_to: [pager],"
        " channels: [chat]}\n"
    )
    ev = evaluator(write_config(tmp_path, alerts), alert_store)
    for _ in range(2):
        finished(store, "failed")
    t0 = utcnow()
    # when it starts firing / then only the rule's channel hears it
    assert ev.evaluate_once(t0).sent == 1 and received == []
    # when it still fires after escalate_after / then the escalation channel hears it, once
    assert ev.evaluate_once(t0 + timedelta(minutes=11)).sent == 1
    assert len(received) == 1 and received[0]["ok"] == "True"
    assert received[0]["text"]["content"].startswith("[ESCALATED] [FIRING:1] failing")  # type: ignore[index]
    assert ev.evaluate_once(t0 + timedelta(minutes=12)).sent == 0
    # and both repeat on the repeat rule
    assert ev.evaluate_once(t0 + timedelta(minutes=61)).sent == 1  # chat (sent at t0)
    assert ev.evaluate_once(t0 + timedelta(minutes=72)).sent == 1  # pager (sent at t0+11m)
    assert len(posts(httpserver, "/chat")) == 2 and len(received) == 2
    [state] = alert_store.states("failing")
    assert state["escalated_at"] == t0 + timedelta(minutes=11)
