"""Every route and every role: the table names each route's least role; a route missing from
the table fails the test, so a new route cannot ship without its role."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api

EID = "0" * 32
# (method, path, least role or "public", JSON body)
ROUTES: list[tuple[str, str, str, Any]] = [
    ("GET", "/api/v1/health", "public", None),
    ("GET", "/api/v1/ready", "public", None),
    ("POST", "/api/v1/session", "public", {"token": "fr_nope"}),
    ("DELETE", "/api/v1/session", "public", None),
    ("GET", "/api/v1/me", "viewer", None),
    ("GET", "/api/v1/events", "viewer", None),
    ("GET", f"/api/v1/events/{EID}", "viewer", None),
    ("POST", f"/api/v1/events/{EID}/retry", "operator", None),
    ("POST", "/api/v1/reprocess", "operator", {"dry_run": True, "source": "nothing-here"}),
    ("GET", "/api/v1/summary", "viewer", None),
    ("GET", "/api/v1/queues/depth", "viewer", None),
    ("GET", "/api/v1/sources", "viewer", None),
    ("POST", "/api/v1/sources/other/pause", "operator", None),
    ("POST", "/api/v1/sources/other/resume", "operator", None),
    ("GET", "/api/v1/sources/other/tree", "viewer", None),
    ("POST", "/api/v1/sources/other/files", "operator", None),
    ("POST", "/api/v1/submit", "operator", {"path": "/nowhere/x"}),
    ("POST", "/api/v1/pipelines/999999/cancel", "operator", None),
    ("GET", "/api/v1/tokens", "admin", None),
    ("POST", "/api/v1/tokens", "admin", {"name": "bad name!", "role": "viewer"}),
    ("DELETE", "/api/v1/tokens/no-such-token", "admin", None),
    ("GET", "/api/v1/audit", "admin", None),
    ("GET", "/api/v1/agents", "viewer", None),
    ("GET", "/api/v1/agents/nobody", "viewer", None),
    ("GET", "/api/v1/logs", "viewer", None),
    ("GET", "/api/v1/config", "viewer", None),
    ("GET", "/api/v1/config/versions", "viewer", None),
    ("POST", "/api/v1/config/validate", "viewer", {"text": "sources: 3"}),
    ("POST", "/api/v1/config", "admin", {"text": "sources: 3"}),
    ("POST", "/api/v1/config/rollback/999999", "admin", None),
    ("GET", "/api/v1/alerts", "viewer", None),
    ("POST", "/api/v1/alerts/no-rule/ack", "operator", None),
    ("POST", "/api/v1/alerts/no-rule/silence", "operator", None),
    ("GET", "/api/v1/alerts/config", "viewer", None),
    ("PUT", "/api/v1/alerts/config", "admin", {"text": "interval: x"}),
    ("GET", "/api/v1/breakers", "viewer", None),
    ("POST", "/api/v1/breakers/no-such-dest/close", "operator", None),
    ("GET", "/api/v1/reports", "viewer", None),
    ("GET", "/api/v1/reports.html", "viewer", None),
    ("GET", "/api/v1/slos", "viewer", None),
    ("GET", "/api/v1/fleet", "viewer", None),
    ("POST", "/api/v1/fleet/push", "admin", {"text": "sources: 3"}),
    ("POST", "/api/v1/fleet/promote", "admin", None),
    ("POST", "/api/v1/fleet/rollback", "admin", {"version": 999999}),
]
#: the SSE routes are checked by test_live (a stream never ends by itself)
STREAMS = {"/api/v1/stream", "/api/v1/logs/stream"}
RANK = {"public": -1, "viewer": 0, "operator": 1, "admin": 2}
CALLERS = [None, "viewer", "operator", "admin"]


def test_the_table_covers_every_route_with_the_role_the_app_declares(sqlite_api: Api) -> None:
    # given the served OpenAPI document
    with sqlite_api.client(None) as client:
        doc = client.get("/api/v1/openapi.json").json()
    # when its operations are listed with their declared role
    declared = {
        (method.upper(), path, op["x-role"])
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if path not in STREAMS
    }
    table = {(m, _template(p), r) for m, p, r, _ in ROUTES}
    # then the table and the app agree route for route
    assert declared == table


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_refuses_the_roles_below_its_own(api: Api, caller: str | None) -> None:
    # given a client with the caller's token (or none)
    with api.client(caller) as client:
        for method, path, least, body in ROUTES:
            # when it calls the route
            got = client.request(method, path, json=body)
            # then a caller below the route's role is refused, anyone else gets past auth
            if least == "public":
                assert got.status_code not in (401, 403) or path.endswith("/session"), (
                    path,
                    got.text,
                )
            elif caller is None:
                assert got.status_code == 401, (method, path, got.text)
                assert got.headers["content-type"] == "application/problem+json"
            elif RANK[caller] < RANK[least]:
                assert got.status_code == 403, (method, path, caller, got.text)
            else:
                assert got.status_code not in (401, 403) and got.status_code < 500, (
                    method,
                    path,
                    caller,
                    got.text,
                )


def _template(path: str) -> str:
    """The route template a table path stands for."""
    path = path.replace(EID, "{event_id}").replace("/other/", "/{name}/")
    path = path.replace("/999999/", "/{pipeline_id}/")
    path = path.replace("/agents/nobody", "/agents/{agent_id}")
    path = path.replace("/rollback/999999", "/rollback/{version}")
    path = path.replace("/alerts/no-rule/", "/alerts/{rule}/")
    path = path.replace("/breakers/no-such-dest/", "/breakers/{destination}/")
    return path.replace("/tokens/no-such-token", "/tokens/{name}")
