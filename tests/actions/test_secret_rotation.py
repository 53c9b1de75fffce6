"""Rotating a webhook signing secret without downtime, as docs/security.md describes it:
add the new secret beside the old one, move the receivers to the new one, remove the old one.

At every phase the request goes to two real receivers on loopback, one holding only the old
secret and one holding only the new; each verifies with the ``standardwebhooks`` library and
answers 401 on a bad signature. Both the ``webhook`` action and the alert ``webhook`` channel
sign through the same module, and both are driven through the phases.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from filerelay.actions.base import Resources
from filerelay.actions.webhook.action import WebhookAction, WebhookConfig
from filerelay.alerting import messages
from filerelay.alerting.channels import Channels
from filerelay.config.alerts import WebhookAlertChannel
from filerelay.errors import ActionError
from tests.actions.helpers import make_context, make_event, write_file

OLD = "whsec_" + base64.b64encode(b"old-key-" * 4).decode()
NEW = "whsec_" + base64.b64encode(b"new-key-" * 4).decode()

# (phase, secrets filerelay signs with, does the old-only receiver accept, the new-only one)
PHASES = [
    ("before", [OLD], True, False),
    ("new secret added", [OLD, NEW], True, True),
    ("old secret removed", [NEW], False, True),
]


def verifying(secret: str) -> Callable[[Request], Response]:
    """A receiver handler holding only ``secret``."""

    def handle(request: Request) -> Response:
        try:
            Webhook(secret).verify(request.get_data(), dict(request.headers), json_parse=False)
        except WebhookVerificationError as exc:
            return Response(f"bad signature: {exc}", status=401)
        return Response('{"ok":true}', status=200, content_type="application/json")

    return handle


@pytest.fixture
def receivers(httpserver: HTTPServer) -> dict[str, str]:
    """URLs of the receiver holding the old secret and of the one holding the new."""
    httpserver.expect_request("/old").respond_with_handler(verifying(OLD))
    httpserver.expect_request("/new").respond_with_handler(verifying(NEW))
    return {"old": httpserver.url_for("/old"), "new": httpserver.url_for("/new")}


@pytest.fixture
def resources() -> Iterator[Resources]:
    res = Resources()
    try:
        yield res
    finally:
        res.clients.close()


def action_accepted(url: str, secrets: list[str], src: Path, resources: Resources) -> bool:
    """Run the webhook action once; did the receiver accept its signature?"""
    path = write_file(src / "a.txt", b"rotate me\n")
    action = WebhookAction(WebhookConfig.model_validate({"url": url, "secret": secrets}), resources)
    try:
        action.run(make_context(make_event(path, src, source="cam"), resources))
    except ActionError as exc:
        assert "401" in str(exc)
        return False
    return True


def alert_accepted(url: str, secrets: list[str]) -> bool:
    """Send a test alert on a webhook channel once; did the receiver accept it?"""
    channel = WebhookAlertChannel.model_validate({"type": "webhook", "url": url, "secret": secrets})
    channels = Channels({"hook": channel}, {})
    try:
        channels.send("hook", messages.test_alert(datetime.now(UTC)))
    except ActionError as exc:
        assert "401" in str(exc)
        return False
    finally:
        channels.close()
    return True


@pytest.mark.parametrize(
    ("phase", "secrets", "old_ok", "new_ok"), PHASES, ids=[p[0] for p in PHASES]
)
def test_the_webhook_action_through_a_rotation(
    receivers: dict[str, str],
    src: Path,
    resources: Resources,
    phase: str,
    secrets: list[str],
    old_ok: bool,
    new_ok: bool,
) -> None:
    # given filerelay signing with `secrets` at this phase of the rotation
    # when the action calls a receiver holding only the old secret, and one holding the new
    # then each accepts exactly when it holds one of the secrets signed with
    assert action_accepted(receivers["old"], secrets, src, resources) is old_ok
    assert action_accepted(receivers["new"], secrets, src, resources) is new_ok


@pytest.mark.parametrize(
    ("phase", "secrets", "old_ok", "new_ok"), PHASES, ids=[p[0] for p in PHASES]
)
def test_the_alert_webhook_channel_through_a_rotation(
    receivers: dict[str, str], phase: str, secrets: list[str], old_ok: bool, new_ok: bool
) -> None:
    # given an alert channel signing with `secrets` at this phase of the rotation
    # when it sends to each receiver / then each accepts exactly when it holds a secret used
    assert alert_accepted(receivers["old"], secrets) is old_ok
    assert alert_accepted(receivers["new"], secrets) is new_ok


def test_a_single_secret_still_reads_as_before(receivers: dict[str, str]) -> None:
    # given the alert channel's secret as a plain string (not a list), as configs had it
    # then the receiver holding it verifies, and an empty list is refused at load
    assert alert_accepted(receivers["old"], OLD) is True  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one secret"):
        WebhookAlertChannel.model_validate(
            {"type": "webhook", "url": receivers["old"], "secret": []}
        )
