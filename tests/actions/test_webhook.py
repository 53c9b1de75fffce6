"""The webhook action against a real HTTP server on loopback.

The receiver checks signatures with the ``standardwebhooks`` library and reads events with the
``cloudevents`` SDK, never with filerelay's own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from filerelay import __version__
from filerelay.actions.base import Resources
from filerelay.actions.webhook.action import WebhookAction, WebhookConfig
from filerelay.errors import PermanentError, RetryableError
from tests.actions.helpers import make_context, make_event, write_file
from tests.actions.test_cloudevent import parse_cloudevent
from tests.conftest import free_port

KEY_A = b"A" * 32
KEY_B = b"B" * 24
SECRET_A = "whsec_" + base64.b64encode(KEY_A).decode()
SECRET_B = "whsec_" + base64.b64encode(KEY_B).decode()
HEADER_TOKEN = "Bearer header-token-0123456789"
QUERY_TOKEN = "query-token-9876543210"


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    raw_uri: str = ""


@dataclass
class Receiver:
    """A webhook endpoint: verifies with standardwebhooks (401 if bad), records, answers."""

    server: HTTPServer
    secret: str | bytes | None = SECRET_A
    answers: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return self.server.url_for(path)

    def handle(self, request: Request) -> Response:
        body = request.get_data(cache=True)
        got = Received(request.method, request.path, dict(request.headers), body)
        got.raw_uri = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"))
        if request.mimetype == "multipart/form-data":
            got.form = dict(request.form)
            got.files = {name: fs.read() for name, fs in request.files.items()}
        self.received.append(got)
        if self.secret is not None and not got.files:
            try:
                Webhook(self.secret).verify(body, got.headers, json_parse=False)
            except WebhookVerificationError as exc:
                return Response(f"bad signature: {exc}", status=401)
        status, headers, text = self.answers.pop(0) if self.answers else (200, {}, '{"ok":true}')
        return Response(text, status=status, headers=headers, content_type="application/json")


@pytest.fixture(scope="module")
def _server() -> Iterator[HTTPServer]:
    """One threaded HTTP server for the module (stopping one takes half a second)."""
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(_server: HTTPServer) -> Iterator[HTTPServer]:
    """The module's server with no handlers; cleared again after the test."""
    _server.clear()
    try:
        yield _server
    finally:
        _server.clear()


@pytest.fixture
def resources() -> Iterator[Resources]:
    res = Resources()
    try:
        yield res
    finally:
        res.clients.close()


@pytest.fixture
def receiver(server: HTTPServer) -> Receiver:
    recv = Receiver(server)
    server.expect_request(_any_path()).respond_with_handler(recv.handle)
    return recv


def _any_path() -> Any:
    import re

    return re.compile(".*")


def webhook(resources: Resources, **config: Any) -> WebhookAction:
    return WebhookAction(WebhookConfig.model_validate(config), resources)


@pytest.fixture
def file_ctx(src: Path, resources: Resources) -> Callable[..., Any]:
    """Builds a context (one attempt) for ``src/sub/a.txt``, sharing the test's resources."""
    path = write_file(src / "sub" / "a.txt", b"hello webhook\n")
    event = make_event(path, src, source="cam")

    def build(**kwargs: Any) -> Any:
        return make_context(event, resources, **kwargs)

    return build


# --- delivery ---------------------------------------------------------------------------


def test_event_is_signed_and_reads_as_a_cloudevent(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    # given a webhook with a Standard Webhooks secret and an earlier step's result
    ctx = file_ctx(route="video", step="2-hook")
    ctx.results = {"upload": {"key": "cam/sub/a.txt"}}
    action = webhook(ctx.resources, url=receiver.url() + "?token=" + QUERY_TOKEN, secret=SECRET_A)
    # when it runs
    result = action.run(ctx)
    # then the receiver verified the signature and the SDK reads the expected event
    assert result["status"] == 200, result
    [got] = receiver.received
    event = parse_cloudevent(got.headers, got.body)
    assert event["id"] == ctx.idempotency_key
    assert event["type"] == "io.filerelay.file.stable"
    assert event["subject"] == "sub/a.txt"
    assert event["source"] == "filerelay://test-host/cam"
    assert event["data"]["size"] == len(b"hello webhook\n")
    assert event["data"]["route"] == "video"
    assert event["data"]["steps"] == {"upload": {"key": "cam/sub/a.txt"}}
    # and the idempotency headers carry the same id
    assert got.headers["Webhook-Id"] == got.headers["Idempotency-Key"] == ctx.idempotency_key
    assert got.headers["Content-Type"] == "application/cloudevents+json"
    assert got.headers["User-Agent"] == f"filerelay/{__version__}"
    assert result == {
        "status": 200,
        "url": receiver.url(),
        "response_excerpt": '{"ok":true}',
        "response_json": {"ok": True},
        "duration_ms": result["duration_ms"],
        "webhook_id": ctx.idempotency_key,
    }


def test_a_retry_resends_the_same_webhook_id_and_body(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    # given a receiver that fails once with 503, then accepts
    receiver.answers.append((503, {}, "busy"))
    action = webhook(file_ctx().resources, url=receiver.url(), secret=SECRET_A)
    # when the first attempt fails and the second succeeds
    with pytest.raises(RetryableError, match="HTTP 503"):
        action.run(file_ctx(attempt=1))
    action.run(file_ctx(attempt=2))
    # then both requests were verified and carry the same id and body
    first, second = receiver.received
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"]
    assert first.body == second.body
    for got in (first, second):
        Webhook(SECRET_A).verify(got.body, got.headers, json_parse=False)


def test_two_secrets_sign_twice_and_each_verifies_alone(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    # given two secrets (a rotation in progress)
    ctx = file_ctx()
    action = webhook(ctx.resources, url=receiver.url(), secret=[SECRET_A, SECRET_B])
    # when it runs
    action.run(ctx)
    # then there are two signatures and each secret alone verifies the request
    [got] = receiver.received
    assert len(got.headers["Webhook-Signature"].split(" ")) == 2
    for secret in (SECRET_A, SECRET_B):
        Webhook(secret).verify(got.body, got.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"C" * 32).decode()).verify(got.body, got.headers)


def test_a_plain_string_secret_is_used_as_its_bytes(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    receiver.secret = b"plain shared secret"
    ctx = file_ctx()
    result = webhook(ctx.resources, url=receiver.url(), secret="plain shared secret").run(ctx)
    assert result["status"] == 200


def test_custom_body_gets_an_earlier_steps_result(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    # given a custom body referring to the upload step's key
    ctx = file_ctx()
    ctx.results = {"upload": {"key": "cam/2024/a.txt", "etag": "abc"}}
    body = {"object": "{steps.upload.key}", "meta": {"file": "{name}", "n": 3}}
    action = webhook(ctx.resources, url=receiver.url(), secret=SECRET_A, method="PUT", body=body)
    # when it runs
    action.run(ctx)
    # then the rendered body arrived as plain JSON, signed
    [got] = receiver.received
    assert got.method == "PUT"
    assert got.headers["Content-Type"] == "application/json"
    assert json.loads(got.body) == {"object": "cam/2024/a.txt", "meta": {"file": "a.txt", "n": 3}}


def test_get_sends_no_body_and_follows_redirects(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    receiver.answers.append((302, {"Location": receiver.url("/moved")}, ""))
    ctx = file_ctx()
    action = webhook(ctx.resources, url=receiver.url("/f/{name}"), method="GET", secret=SECRET_A)
    result = action.run(ctx)
    assert result["status"] == 200
    assert [(r.method, r.path, r.body) for r in receiver.received] == [
        ("GET", "/f/a.txt", b""),
        ("GET", "/moved", b""),
    ]


def test_values_in_the_url_are_percent_encoded(
    receiver: Receiver, src: Path, resources: Resources
) -> None:
    # given a file whose name would change the URL's path, query and fragment
    path = write_file(src / "x?admin=1&y=..%2F#frag", b"x")
    ctx = make_context(make_event(path, src, source="cam"), resources)
    url = receiver.url("/in/{name}") + "?n={name}&s={source}"
    # when the webhook is called with it in the path and the query
    webhook(ctx.resources, url=url, secret=SECRET_A).run(ctx)
    # then each value arrived as one encoded path segment and one query value
    (got,) = receiver.received
    encoded = "x%3Fadmin%3D1%26y%3D..%252F%23frag"
    assert got.raw_uri == f"/in/{encoded}?n={encoded}&s=cam"
    assert got.path == "/in/x?admin=1&y=..%2F#frag"


def test_a_redirect_to_another_origin_drops_custom_headers(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    # given a GET webhook with a secret header, redirected to another host name
    receiver.secret = None
    other_origin = f"http://localhost:{receiver.server.port}/moved"
    receiver.answers.append((302, {"Location": other_origin}, ""))
    ctx = file_ctx()
    action = webhook(ctx.resources, url=receiver.url(), method="GET", headers={"X-Key": "k3y"})
    # when it follows the redirect
    action.run(ctx)
    # then the secret header went to the first origin only
    first, moved = receiver.received
    assert first.headers["X-Key"] == "k3y"
    assert "X-Key" not in moved.headers
    assert moved.headers["Webhook-Id"] == ctx.idempotency_key


def test_post_does_not_follow_a_redirect(receiver: Receiver, file_ctx: Callable[..., Any]) -> None:
    receiver.answers.append((307, {"Location": receiver.url("/other?sig=xyz")}, ""))
    ctx = file_ctx()
    with pytest.raises(PermanentError, match=r"redirect to .*/other not followed") as err:
        webhook(ctx.resources, url=receiver.url(), secret=SECRET_A).run(ctx)
    assert "sig=xyz" not in str(err.value)
    assert len(receiver.received) == 1


def test_upload_file_streams_the_bytes_intact(
    receiver: Receiver, src: Path, resources: Resources
) -> None:
    # given a binary file with every byte value, larger than one read chunk
    data = bytes(range(256)) * 2000 + os.urandom(1001)
    path = write_file(src / "bin" / "blob.bin", data)
    ctx = make_context(make_event(path, src), resources)
    action = webhook(ctx.resources, url=receiver.url(), secret=SECRET_A, upload_file=True)
    # when it runs
    result = action.run(ctx)
    # then the file part holds the exact bytes and the event part the CloudEvent
    assert result["status"] == 200
    [got] = receiver.received
    assert got.files == {"file": data}
    event = parse_cloudevent(
        {"content-type": "application/cloudevents+json"}, got.form["event"].encode()
    )
    assert event["subject"] == "bin/blob.bin"
    assert got.headers["Content-Length"] == str(len(got.body))
    # and the signature covers the whole multipart body (HMAC computed here, per the spec;
    # the standardwebhooks library only verifies UTF-8 bodies)
    msg_id, timestamp = got.headers["Webhook-Id"], got.headers["Webhook-Timestamp"]
    mac = hmac.new(KEY_A, f"{msg_id}.{timestamp}.".encode() + got.body, hashlib.sha256)
    assert got.headers["Webhook-Signature"] == "v1," + base64.b64encode(mac.digest()).decode()


def test_upload_of_a_text_file_verifies_with_the_library(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    receiver.secret = None  # verified below, on the raw body
    ctx = file_ctx()
    webhook(ctx.resources, url=receiver.url(), secret=SECRET_A, upload_file=True).run(ctx)
    [got] = receiver.received
    Webhook(SECRET_A).verify(got.body, got.headers, json_parse=False)
    assert got.files == {"file": b"hello webhook\n"}


# --- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "error", "words"),
    [
        (500, {}, RetryableError, "HTTP 500 INTERNAL SERVER ERROR: boom"),
        (503, {}, RetryableError, "HTTP 503"),
        (408, {}, RetryableError, "HTTP 408"),
        (
            429,
            {"Retry-After": "30"},
            RetryableError,
            "HTTP 429 TOO MANY REQUESTS (Retry-After: 30)",
        ),
        (404, {}, PermanentError, "HTTP 404 NOT FOUND: boom"),
        (400, {}, PermanentError, "HTTP 400"),
        (401, {}, PermanentError, "HTTP 401"),
    ],
)
def test_status_codes_map_to_retryable_or_permanent(
    receiver: Receiver,
    file_ctx: Callable[..., Any],
    status: int,
    headers: dict[str, str],
    error: type[Exception],
    words: str,
) -> None:
    receiver.answers.append((status, headers, "boom"))
    ctx = file_ctx()
    with pytest.raises(error) as err:
        webhook(ctx.resources, url=receiver.url(), secret=SECRET_A).run(ctx)
    assert type(err.value) is error
    assert words in str(err.value)


def test_error_excerpt_is_bounded(receiver: Receiver, file_ctx: Callable[..., Any]) -> None:
    receiver.secret = None
    receiver.answers.append((422, {}, "x" * 10_000))
    ctx = file_ctx()
    with pytest.raises(PermanentError) as err:
        webhook(ctx.resources, url=receiver.url(), max_response_bytes=100).run(ctx)
    assert str(err.value).count("x") == 100


def test_connection_refused_is_retryable(file_ctx: Callable[..., Any]) -> None:
    ctx = file_ctx()
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(RetryableError, match=r"connection failed: .*refused"):
        webhook(ctx.resources, url=url, connect_timeout=2).run(ctx)


def test_read_timeout_is_retryable(server: HTTPServer, file_ctx: Callable[..., Any]) -> None:
    # given a server that does not answer until released
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(10)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(stall)
    ctx = file_ctx()
    try:
        # when the webhook waits at most 0.3 s for the answer
        with pytest.raises(RetryableError, match=r"no response within 0\.3s"):
            webhook(ctx.resources, url=server.url_for("/slow"), read_timeout=0.3).run(ctx)
    finally:
        release.set()


def test_secrets_never_appear_in_results_or_errors(
    server: HTTPServer, file_ctx: Callable[..., Any]
) -> None:
    # given a receiver that echoes the request (headers and URL) back
    statuses = [200, 400]

    def echo(request: Request) -> Response:
        text = json.dumps({"url": request.url, "headers": dict(request.headers)})
        return Response(text, status=statuses.pop(0), content_type="application/json")

    server.expect_request("/echo").respond_with_handler(echo)
    ctx = file_ctx()
    url = server.url_for("/echo") + "?token=" + QUERY_TOKEN
    action = webhook(
        ctx.resources, url=url, secret=SECRET_A, headers={"Authorization": HEADER_TOKEN}
    )
    # when it succeeds once and fails once
    result = action.run(ctx)
    with pytest.raises(PermanentError) as err:
        action.run(ctx)
    # then neither the result nor the error quotes a secret
    reported = json.dumps(result) + str(err.value)
    assert "HTTP 400" in str(err.value)
    for secret in (HEADER_TOKEN, QUERY_TOKEN, SECRET_A, SECRET_A.removeprefix("whsec_")):
        assert secret not in reported
    assert "***" in reported


def test_connection_error_does_not_quote_the_query(file_ctx: Callable[..., Any]) -> None:
    ctx = file_ctx()
    url = f"http://127.0.0.1:{free_port()}/hook?token={QUERY_TOKEN}"
    with pytest.raises(RetryableError) as err:
        webhook(ctx.resources, url=url).run(ctx)
    assert QUERY_TOKEN not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


# --- pooling and compensation -----------------------------------------------------------


def test_session_is_pooled_per_process(
    receiver: Receiver, file_ctx: Callable[..., Any], resources: Resources
) -> None:
    # given two webhook steps of one worker process
    receiver.secret = None
    first = webhook(resources, url=receiver.url())
    second = webhook(resources, url=receiver.url("/other"))
    # when both run
    first.run(file_ctx())
    session = resources.clients.get(("http", True), lambda: None)
    second.run(file_ctx())
    # then they shared one pooled session
    assert session is not None
    assert resources.clients.get(("http", True), lambda: None) is session
    assert len(receiver.received) == 2


def test_the_pooled_session_keeps_no_cookies(
    server: HTTPServer, file_ctx: Callable[..., Any]
) -> None:
    # given a receiver that sets a cookie and records the ones it gets
    cookies: list[str | None] = []

    def handler(request: Request) -> Response:
        cookies.append(request.headers.get("Cookie"))
        response = Response("ok")
        response.set_cookie("session", "abc")
        return response

    server.expect_request("/c").respond_with_handler(handler)
    ctx = file_ctx()
    action = webhook(ctx.resources, url=server.url_for("/c"))
    # when two steps call it through the shared session
    action.run(ctx)
    action.run(ctx)
    # then no cookie was sent back
    assert cookies == [None, None]


def test_compensate_sends_a_retraction_signed_with_its_own_stable_id(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    # given a completed webhook step with a compensating call configured
    ctx = file_ctx()
    action = webhook(
        ctx.resources,
        url=receiver.url(),
        secret=SECRET_A,
        compensate={"url": receiver.url("/undo/{name}")},
    )
    result = action.run(ctx)
    # when it is compensated
    action.compensate(ctx, result)
    # then a retraction event naming the original message arrived, verified
    undo = receiver.received[-1]
    assert undo.path == "/undo/a.txt"
    event = parse_cloudevent(undo.headers, undo.body)
    assert event["type"] == "io.filerelay.file.retracted"
    assert event["id"] == ctx.idempotency_key + ":compensate"
    assert event["data"]["retracts"] == result["webhook_id"]


def test_compensate_treats_not_found_as_done(
    receiver: Receiver, file_ctx: Callable[..., Any]
) -> None:
    receiver.secret = None
    receiver.answers += [(200, {}, "{}"), (404, {}, "gone")]
    ctx = file_ctx()
    action = webhook(
        ctx.resources, url=receiver.url(), compensate={"url": receiver.url(), "method": "DELETE"}
    )
    action.compensate(ctx, action.run(ctx))
    assert [r.method for r in receiver.received] == ["POST", "DELETE"]
    assert receiver.received[-1].body == b""


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"url": "ftp://x/"}, "http:// or https://"),
        ({"url": "http://x/{nope}"}, "unknown field"),
        ({"url": "http://x/", "headers": {"Webhook-Id": "x"}}, "set by filerelay"),
        ({"url": "http://x/", "headers": {"bad name": "x"}}, "not a valid HTTP token"),
        ({"url": "http://x/", "method": "GET", "upload_file": True}, "GET sends no body"),
        ({"url": "http://x/", "method": "DELETE", "body": {"a": "b"}}, "DELETE sends no body"),
        ({"url": "http://x/", "secret": "whsec_%%%not-base64"}, "must be followed by base64"),
        ({"url": "http://x/", "secret": []}, "at least one secret"),
        ({"url": "http://x/", "format": "xml"}, "format"),
        ({"url": "http://x/", "retries": 3}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configs_are_rejected_at_load(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        WebhookConfig.model_validate(config)
    assert words in str(err.value)
    assert "not-base64" not in str(err.value)


def test_every_config_field_is_described() -> None:
    for model in (WebhookConfig, WebhookConfig.model_fields["compensate"].annotation):
        for name, info in getattr(model, "model_fields", {}).items():
            assert info.description, name


def test_the_loader_reports_a_bad_secret_with_its_location_but_not_its_value(
    tmp_path: Path,
) -> None:
    # given a pipeline whose webhook secret comes from the environment and is malformed
    from filerelay.actions.registry import Registry
    from filerelay.config import ActionCatalog, parse_config_text
    from filerelay.errors import ConfigError

    catalog = ActionCatalog.from_registry(
        Registry({"webhook": "filerelay.actions.webhook.action:WebhookAction"})
    )
    text = (
        f"sources: [{{name: cam, path: {tmp_path}}}]\n"
        "routes:\n"
        "  - name: r\n"
        "    steps:\n"
        '      - webhook: {url: "https://hooks.example/in", secret: "${HOOK_SECRET}"}\n'
    )
    good = parse_config_text(text, "rules.yaml", catalog, env={"HOOK_SECRET": SECRET_A})
    assert good.routes[0].steps[0].webhook.signing_keys() == [KEY_A]  # type: ignore[attr-defined]
    # when it loads with a broken secret
    with pytest.raises(ConfigError) as err:
        parse_config_text(text, "rules.yaml", catalog, env={"HOOK_SECRET": "whsec_!!leak!!"})
    # then the problem is located and the value is not shown
    assert "rules.yaml:5" in str(err.value)
    assert "must be followed by base64" in str(err.value)
    assert "leak" not in str(err.value)


def test_a_non_utf8_file_name_is_sent_escaped(
    receiver: Receiver, tmp_path: Path, resources: Resources
) -> None:
    # given a file whose name is not valid UTF-8
    root = tmp_path / "raw"
    root.mkdir()
    raw_name = b"r\xe9sum\xe9.txt"
    with open(os.path.join(os.fsencode(root), raw_name), "wb") as fh:
        fh.write(b"x")
    ctx = make_context(make_event(root / os.fsdecode(raw_name), root), resources)
    # when it is announced
    result = webhook(resources, url=receiver.url(), secret=SECRET_A).run(ctx)
    # then the event names it as escaped text and the ids stay header-safe
    [got] = receiver.received
    event = parse_cloudevent(got.headers, got.body)
    assert event["subject"] == "r\\xe9sum\\xe9.txt"
    assert result["webhook_id"] == got.headers["Webhook-Id"] == event["id"]
    assert result["webhook_id"].startswith("sha256:")
    # and a url made from the name is refused rather than mangled
    with pytest.raises(PermanentError, match="not UTF-8"):
        webhook(resources, url=receiver.url("/{name}")).run(ctx)
