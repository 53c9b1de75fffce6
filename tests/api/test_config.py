"""The config through the API: validate (problems as data), push (a version, or 422 and
nothing changed), rollback; the alerts section replaced, acknowledged and silenced."""

from __future__ import annotations

import pytest

from filerelay.alerting.repo import AlertStore
from filerelay.alerting.service import build_evaluator
from tests.api.conftest import Api

# config pushes load and validate the whole config a few times: kept out of `make fast`
pytestmark = pytest.mark.slow

ALERTS = """\
interval: 5s
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook", secret: "s3cr3t-value-x"}
rules:
  - {name: agent-gone, kind: agent_offline, after: 2m, channels: [hook]}
"""


def test_validate_push_and_roll_back_the_config(sqlite_api: Api) -> None:
    path = sqlite_api.dep.settings.config
    assert path is not None
    original = path.read_text()
    with sqlite_api.client("admin") as admin:
        # when a broken config is validated / then every problem comes as data with its line
        broken = original + "  - name: 5\n    bogus: true\n"
        got = admin.post("/api/v1/config/validate", json={"text": broken}).json()
        assert got["valid"] is False and got["problems"][0]["line"] is not None
        # when it is pushed / then 422 naming the fields, and the file is unchanged
        refused = admin.post("/api/v1/config", json={"text": broken})
        assert refused.status_code == 422 and refused.json()["invalid-params"]
        assert path.read_text() == original
        # when a valid change is pushed / then it is a version and the file holds it
        changed = original + "# pushed\n"
        pushed = admin.post("/api/v1/config", json={"text": changed, "comment": "note"})
        assert pushed.status_code == 201, pushed.text
        first = pushed.json()["version"]
        assert path.read_text() == changed
        assert admin.get("/api/v1/config").json()["version"] == first
        again = admin.post("/api/v1/config", json={"text": original}).json()["version"]
        # when the first version is rolled back to / then the file holds its text again
        back = admin.post(f"/api/v1/config/rollback/{first}")
        assert back.status_code == 201 and back.json()["version"] > again
        assert path.read_text() == changed
        versions = admin.get("/api/v1/config/versions").json()
        assert [v["version"] for v in versions][:3] == [back.json()["version"], again, first]
    path.write_text(original)


def test_the_alerts_section_is_replaced_acknowledged_and_silenced(sqlite_api: Api) -> None:
    path = sqlite_api.dep.settings.config
    assert path is not None
    original = path.read_text()
    try:
        with sqlite_api.client("admin") as admin:
            # when the admin replaces the alerts section
            put = admin.put("/api/v1/alerts/config", json={"text": ALERTS})
            assert put.status_code == 200, put.text
            # then it reads back with its secret masked, and the rule is listed
            text = admin.get("/api/v1/alerts/config").json()["text"]
            assert "agent-gone" in text and "s3cr3t-value-x" not in text
            rules = admin.get("/api/v1/alerts").json()["rules"]
            assert [r["rule"] for r in rules] == ["agent-gone"]
            # and once the evaluator (another process) measured it, its measure is listed
            loaded = sqlite_api.dep.config()
            assert loaded is not None
            engine = sqlite_api.dep.store.engine
            build_evaluator(sqlite_api.dep.settings, loaded, AlertStore(engine)).evaluate_once()
            (rule,) = admin.get("/api/v1/alerts").json()["rules"]
            assert rule["measure"]["threshold"] == 120 and rule["measure"]["unit"] == "s"
            assert rule["measure"]["holding"] == 0 and rule["measure"]["measured_at"]
        with sqlite_api.client("operator") as operator:
            # when an operator acknowledges and silences it / then it is accepted
            acked = operator.post("/api/v1/alerts/agent-gone/ack", json={})
            assert acked.status_code == 200 and acked.json()["rule"] == "agent-gone"
            silenced = operator.post("/api/v1/alerts/agent-gone/silence", json={"duration": "2h"})
            assert silenced.status_code == 200
            # and an unknown rule or a bad duration is a 4xx naming it
            assert operator.post("/api/v1/alerts/nope/ack").status_code == 404
            bad = operator.post("/api/v1/alerts/agent-gone/silence", json={"duration": "soon"})
            assert bad.status_code == 400 and "duration" in bad.text
    finally:
        path.write_text(original)
