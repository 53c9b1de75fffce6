"""Browser sessions (cookie + CSRF), /me, and the audit rows of mutations and refusals."""

from __future__ import annotations

import httpx

from filerelay.api.auth import FailureBrake
from filerelay.store.control import AuditFilter
from tests.api.conftest import Api


def test_a_session_cookie_needs_the_csrf_token_for_mutations(sqlite_api: Api) -> None:
    # given a browser that signs in with the operator token
    with httpx.Client(base_url=sqlite_api.url, timeout=10) as browser:
        opened = browser.post("/api/v1/session", json={"token": sqlite_api.tokens["operator"]})
        assert opened.status_code == 200, opened.text
        session = opened.json()
        cookie = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        # when it reads who it is
        me = browser.get("/api/v1/me").json()
        # then the cookie authenticates it, with its role's actions
        assert me["role"] == "operator" and "sources.pause" in me["actions"]
        assert "config.write" not in me["actions"]
        # when it mutates without the CSRF header / then it is refused
        assert browser.post("/api/v1/sources/other/pause").status_code == 403
        # when it sends the header / then it goes through
        csrf = {"X-CSRF-Token": session["csrf_token"]}
        assert browser.post("/api/v1/sources/other/pause", headers=csrf).status_code == 200
        assert browser.post("/api/v1/sources/other/resume", headers=csrf).status_code == 200
        # when it signs out / then the cookie no longer works
        browser.delete("/api/v1/session")
        assert browser.get("/api/v1/me").status_code == 401


def test_mutations_and_refusals_are_audited(sqlite_api: Api) -> None:
    # given an operator who pauses a source and a caller with a wrong token
    with sqlite_api.client("operator") as client:
        assert client.post("/api/v1/sources/other/pause").status_code == 200
        client.post("/api/v1/sources/other/resume")
    with httpx.Client(base_url=sqlite_api.url, headers={"Authorization": "Bearer fr_wrong"}) as bad:
        assert bad.get("/api/v1/events").status_code == 401
    # when the admin reads the audit log
    rows = sqlite_api.dep.control.audit_page(AuditFilter(), 50, None)
    # then the pause is a row with the token, role, address, target and outcome
    pause = next(r for r in rows if r["action"] == "pause" and r["target"] == "other")
    assert pause["actor"].startswith("operator-") and pause["role"] == "operator"
    assert pause["address"] == "127.0.0.1" and pause["outcome"] == "ok"
    # and the refused authentication is a row too
    refused = next(r for r in rows if r["action"] == "authenticate")
    assert refused["outcome"].startswith("refused") and refused["address"] == "127.0.0.1"


def test_repeated_failures_from_one_address_are_slowed_down(sqlite_api: Api) -> None:
    # given a brake of three failures a minute
    saved = sqlite_api.app.state.brake
    sqlite_api.app.state.brake = FailureBrake(limit=3, window_s=60)
    try:
        with httpx.Client(base_url=sqlite_api.url, headers={"Authorization": "Bearer fr_x"}) as bad:
            # when a client keeps guessing
            codes = [bad.get("/api/v1/me").status_code for _ in range(4)]
        # then the fourth try is refused before any token is looked at, with Retry-After
        assert codes == [401, 401, 401, 429]
        with sqlite_api.client("viewer") as good:
            blocked = good.get("/api/v1/me")
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    finally:
        sqlite_api.app.state.brake = saved
