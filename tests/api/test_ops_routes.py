"""The operations routes on the served API: breakers (list, close), reports (JSON, HTML),
SLOs, the fleet (push, refuse a literal secret, canary, promote, roll back) and agents by
label. Each test keeps to its own destination, version texts and labels."""

from __future__ import annotations

import uuid
from datetime import timedelta

from filerelay.ops.breakers import limit_store
from filerelay.store.db import utcnow
from tests.api.conftest import Api

FLEET_CONFIG = """\
sources:
  - name: inbox
    path: /tmp/fleet-{tag}
routes:
  - name: copy
    steps:
      - copy: {{to: "/tmp/out/{{relpath}}"}}
"""


def test_breakers_are_listed_and_an_operator_closes_one(sqlite_api: Api) -> None:
    # given an open breaker of a destination
    dest = f"hook-{uuid.uuid4().hex[:8]}"
    limits = limit_store(sqlite_api.dep.store)
    now = utcnow()
    for _ in range(2):
        limits.breaker_failure(dest, "test", now, 2, 60.0, "connection refused")
    with sqlite_api.client("operator") as client:
        # when the breakers are listed / then it is open, with its error and time left
        rows = {b["destination"]: b for b in client.get("/api/v1/breakers").json()}
        assert rows[dest]["state"] == "open"
        assert rows[dest]["last_error"] == "connection refused"
        assert 0 < rows[dest]["open_for_s"] <= 60
        # when an operator closes it / then it is closed, and the close is audited
        got = client.post(f"/api/v1/breakers/{dest}/close")
        assert got.status_code == 200, got.text
        assert got.json() == {"destination": dest, "was": "open"}
        rows = {b["destination"]: b for b in client.get("/api/v1/breakers").json()}
        assert rows[dest]["state"] == "closed"
        # when an unknown destination is closed / then 400 naming the known ones
        bad = client.post("/api/v1/breakers/nowhere/close")
        assert bad.status_code == 400 and dest in bad.json()["detail"]
    with sqlite_api.client("admin") as client:
        audit = client.get("/api/v1/audit", params={"action": "breakers.close"}).json()
        assert any(r["target"] == dest for r in audit["items"])


def test_reports_answer_json_and_html_and_refuse_bad_periods(sqlite_api: Api) -> None:
    with sqlite_api.client("viewer") as client:
        # when a week's report is asked for / then the JSON has the report's parts
        got = client.get("/api/v1/reports", params={"period": "week", "source": "inbox"})
        assert got.status_code == 200, got.text
        report = got.json()
        assert report["filters"]["sources"] == ["inbox"]
        assert {"files", "failure_rate"} <= set(report["summary"])
        assert isinstance(report["by_day"], list) and report["slos"] == []
        # when the HTML report is asked for, both ways / then a self-contained page
        for path, params in (("/api/v1/reports.html", {}), ("/api/v1/reports", {"format": "html"})):
            page = client.get(path, params={"period": "day", **params})
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "<html" in page.text.lower() and "https://" not in page.text
        # when the period is unknown or the span is backwards / then a 4xx problem
        assert client.get("/api/v1/reports", params={"period": "year"}).status_code == 422
        since, until = utcnow().isoformat(), (utcnow() - timedelta(days=1)).isoformat()
        bad = client.get("/api/v1/reports", params={"since": since, "until": until})
        assert bad.status_code == 400, bad.text
        assert bad.headers["content-type"] == "application/problem+json"
        # when the SLOs are asked for / then none are configured here
        assert client.get("/api/v1/slos").json() == []


def test_fleet_push_refuses_secrets_and_runs_a_canary_to_its_end(sqlite_api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    with sqlite_api.client("admin") as client:
        # given a version on every agent
        base = client.post("/api/v1/fleet/push", json={"text": FLEET_CONFIG.format(tag=tag)})
        assert base.status_code == 201, base.text
        assert base.json()["rollout"]["state"] == "promoted"
        # when a config with a literal secret is pushed / then 422 naming the field
        secret = FLEET_CONFIG.format(tag=tag) + (
            "connections:\n  mq: {type: amqp, url: 'amqp://u:hunter2@127.0.0.1//'}\n"
        )
        got = client.post("/api/v1/fleet/push", json={"text": secret, "name": "s.yaml"})
        assert got.status_code == 422, got.text
        assert got.json()["invalid-params"][0]["name"] == "s.yaml:connections.mq.url"
        assert "hunter2" not in got.text
        # when a new version goes as a canary to a label / then it is under way
        canary = {"text": FLEET_CONFIG.format(tag=tag + "b"), "label": f"site={tag}"}
        pushed = client.post("/api/v1/fleet/push", json=canary)
        assert pushed.status_code == 201, pushed.text
        status = client.get("/api/v1/fleet").json()
        assert status["active"]["version"] == pushed.json()["version"]
        assert status["active"]["selector"] == {"labels": {"site": tag}}
        # when another push comes meanwhile / then 400 naming the rollout under way
        again = client.post("/api/v1/fleet/push", json={"version": base.json()["version"]})
        assert again.status_code == 400 and "promote it or roll it back" in again.text
        # when it is promoted / then it is the baseline; rolled back / the previous one
        promoted = client.post("/api/v1/fleet/promote")
        assert promoted.status_code == 201 and promoted.json()["state"] == "promoted"
        back = client.post("/api/v1/fleet/rollback")
        assert back.status_code == 201 and back.json()["version"] == base.json()["version"]
        assert client.get("/api/v1/fleet").json()["active"] is None
        # when an unknown version is pushed / then 404; neither text nor version / 422
        assert client.post("/api/v1/fleet/push", json={"version": 99999}).status_code == 404
        assert client.post("/api/v1/fleet/push", json={}).status_code == 422


def test_agents_filter_by_label_and_refuse_a_bad_one(sqlite_api: Api) -> None:
    with sqlite_api.client("viewer") as client:
        # when agents are asked for with a label no agent has / then none
        got = client.get("/api/v1/agents", params={"label": f"site={uuid.uuid4().hex}"})
        assert got.status_code == 200 and got.json() == []
        # when the label is malformed / then a 400 problem naming it
        bad = client.get("/api/v1/agents", params={"label": "nolabel"})
        assert bad.status_code == 400 and "label" in bad.json()["detail"]
