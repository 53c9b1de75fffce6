"""notify over DingTalk and Slack webhooks, against a real HTTP server on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from filerelay.actions.base import Resources
from filerelay.actions.notify import SESSION_KEY, NotifyAction, NotifyConfig
from filerelay.channels.dingtalk import sign
from filerelay.errors import PermanentError, RetryableError
from tests.actions.helpers import make_context, make_event, write_file
from tests.conftest import free_port

TOKEN = "tok-9f8e7d6c5b4a"
SECRET = "SECa1b2c3d4e5f60718293a4b5c6d7e8f9"


def notify(src: Path, config: dict[str, Any], resources: Resources | None = None) -> Any:
    """Run a notify step on a small file and return its result."""
    path = write_file(src / "in" / "report.csv", b"a,b\n1,2\n")
    action = NotifyAction(NotifyConfig.model_validate(config), resources or Resources())
    return action.run(make_context(make_event(path, src), resources))


def robot_url(server: HTTPServer) -> str:
    return server.url_for("/robot/send") + f"?access_token={TOKEN}"


def dingtalk_robot(server: HTTPServer, secret: str, received: list[dict[str, Any]]) -> None:
    """A DingTalk robot in signed mode: checks the token and recomputes the signature."""

    def handle(request: Request) -> Response:
        if request.args.get("access_token") != TOKEN:
            return _dingtalk_answer(300001, "token is not exist")
        timestamp = request.args.get("timestamp", "0")
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        raw_sign = dict(p.split("=", 1) for p in request.query_string.decode().split("&"))["sign"]
        fresh = abs(time.time() * 1000 - int(timestamp)) < 3_600_000
        if raw_sign != urllib.parse.quote_plus(expected) or not fresh:
            return _dingtalk_answer(310000, "sign not match")
        received.append(request.get_json())
        return _dingtalk_answer(0, "ok")

    server.expect_request("/robot/send", method="POST").respond_with_handler(handle)


def _dingtalk_answer(errcode: int, errmsg: str) -> Response:
    body = json.dumps({"errcode": errcode, "errmsg": errmsg})
    return Response(body, status=200, content_type="application/json")


def dingtalk(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    return {
        "channel": "dingtalk",
        "webhook_url": robot_url(server),
        "message": "{source}: {relpath} ({size} bytes)",
        **extra,
    }


def test_dingtalk_signed_text_message(httpserver: HTTPServer, src: Path) -> None:
    # given a robot in signed mode
    received: list[dict[str, Any]] = []
    dingtalk_robot(httpserver, SECRET, received)
    # when a text message is sent with the right secret
    result = notify(src, dingtalk(httpserver, secret=SECRET, at_mobiles=["13800000000"]))
    # then the robot verified the signature and got the rendered text
    assert result == {"channel": "dingtalk", "status": 200, "message_id": None}
    assert received == [
        {
            "msgtype": "text",
            "text": {"content": "src: in/report.csv (8 bytes)"},
            "at": {"atMobiles": ["13800000000"], "isAtAll": False},
        }
    ]


def test_dingtalk_markdown_message(httpserver: HTTPServer, src: Path) -> None:
    received: list[dict[str, Any]] = []
    dingtalk_robot(httpserver, SECRET, received)
    config = dingtalk(httpserver, secret=SECRET, msgtype="markdown", title="new {ext}", at_all=True)
    notify(src, config)
    assert received[0]["msgtype"] == "markdown"
    assert received[0]["markdown"] == {"title": "new csv", "text": "src: in/report.csv (8 bytes)"}
    assert received[0]["at"]["isAtAll"] is True


def test_dingtalk_wrong_secret_is_permanent(httpserver: HTTPServer, src: Path) -> None:
    # given a robot whose secret differs from the configured one
    dingtalk_robot(httpserver, SECRET, [])
    # when a message is sent, then errcode 310000 (sign not match) fails the step for good
    with pytest.raises(PermanentError, match=r"errcode 310000 \(sign not match\)") as info:
        notify(src, dingtalk(httpserver, secret="SECwrong-secret-value"))
    assert TOKEN not in str(info.value) and "wrong-secret" not in str(info.value)


def test_dingtalk_send_too_fast_is_retryable(httpserver: HTTPServer, src: Path) -> None:
    httpserver.expect_request("/robot/send").respond_with_response(
        _dingtalk_answer(130101, "send too fast, exceed 20 times per minute")
    )
    with pytest.raises(RetryableError, match="errcode 130101"):
        notify(src, dingtalk(httpserver))


def test_dingtalk_not_json_is_permanent(httpserver: HTTPServer, src: Path) -> None:
    httpserver.expect_request("/robot/send").respond_with_data("<html>proxy</html>")
    with pytest.raises(PermanentError, match="not its JSON"):
        notify(src, dingtalk(httpserver))


def test_signature_matches_dingtalk_reference() -> None:
    # the reference computation from DingTalk's custom robot docs, done by hand here
    digest = hmac.new(b"SECxyz", b"1700000000000\nSECxyz", hashlib.sha256).digest()
    assert sign("SECxyz", 1700000000000) == base64.b64encode(digest).decode()


def slack(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    return {
        "channel": "slack",
        "webhook_url": server.url_for(f"/services/T0/B0/{TOKEN}"),
        "message": "`{relpath}` arrived",
        **extra,
    }


def test_slack_ok(httpserver: HTTPServer, src: Path) -> None:
    # given a Slack webhook answering 200 "ok"
    httpserver.expect_request(f"/services/T0/B0/{TOKEN}", method="POST").respond_with_data("ok")
    resources = Resources()
    # when a message is sent twice through the same resources
    config = slack(httpserver, username="relay", icon_emoji=":package:", slack_channel="#ops")
    result = notify(src, config, resources)
    notify(src, config, resources)
    # then both arrived with the rendered text and the overrides, over one pooled session
    assert result == {"channel": "slack", "status": 200, "message_id": None}
    bodies = [json.loads(req.get_data()) for req, _resp in httpserver.log]
    assert (
        bodies
        == [
            {
                "text": "`in/report.csv` arrived",
                "username": "relay",
                "icon_emoji": ":package:",
                "channel": "#ops",
            }
        ]
        * 2
    )
    session = resources.clients.get(SESSION_KEY, lambda: None)
    assert session is not None and type(session).__name__ == "Session"


def test_slack_compatible_server_any_2xx(httpserver: HTTPServer, src: Path) -> None:
    httpserver.expect_request(f"/services/T0/B0/{TOKEN}").respond_with_json({"ok": True}, 201)
    assert notify(src, slack(httpserver))["status"] == 201


@pytest.mark.parametrize("status", [500, 503, 429])
def test_slack_server_error_or_throttle_is_retryable(
    httpserver: HTTPServer, src: Path, status: int
) -> None:
    httpserver.expect_request(f"/services/T0/B0/{TOKEN}").respond_with_data("busy", status)
    with pytest.raises(RetryableError, match=f"answered HTTP {status}: busy") as info:
        notify(src, slack(httpserver))
    assert TOKEN not in str(info.value)


def test_slack_client_error_is_permanent(httpserver: HTTPServer, src: Path) -> None:
    httpserver.expect_request(f"/services/T0/B0/{TOKEN}").respond_with_data("invalid_token", 403)
    with pytest.raises(PermanentError, match="HTTP 403: invalid_token"):
        notify(src, slack(httpserver))


@pytest.mark.parametrize("channel", ["slack", "dingtalk"])
def test_server_down_is_retryable_without_leaking_the_url(src: Path, channel: str) -> None:
    # given a webhook URL on a port where nothing listens
    url = f"http://127.0.0.1:{free_port()}/hook?access_token={TOKEN}"
    config = {"channel": channel, "webhook_url": url, "message": "m"}
    # when sending, then the error is retryable and names only the origin
    with pytest.raises(RetryableError, match="cannot connect") as info:
        notify(src, config)
    assert TOKEN not in str(info.value) and "/hook" not in str(info.value)
    assert info.value.__suppress_context__  # requests' text (with the URL) is not chained


def test_secrets_are_not_in_the_config_repr() -> None:
    config = NotifyConfig.model_validate(
        {
            "channel": "dingtalk",
            "webhook_url": f"https://x/r?access_token={TOKEN}",
            "secret": SECRET,
            "message": "m",
        }
    )
    assert TOKEN not in repr(config) and SECRET not in repr(config)
    assert TOKEN not in config.model_dump_json() and SECRET not in config.model_dump_json()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"channel": "pager", "message": "m"}, "does not match any of the expected tags"),
        ({"channel": "slack", "webhook_url": "ftp://x/y", "message": "m"}, "http:// or https://"),
        ({"channel": "slack", "webhook_url": "https://x/y", "message": "{bad}"}, "unknown field"),
        ({"channel": "slack", "webhook_url": "https://x/y"}, "Field required"),
        (
            {"channel": "dingtalk", "webhook_url": "https://x", "message": "m", "msgtype": "card"},
            "'text' or 'markdown'",
        ),
        (
            {"channel": "slack", "webhook_url": "https://x/y", "message": "m", "to": ["a"]},
            "Extra inputs are not permitted",
        ),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NotifyConfig.model_validate(config)
