"""Issue 3's end to end: s3 -> parallel(webhook, publish) -> move, through the watcher and a
worker. The webhook receiver verifies the signature with the standardwebhooks library and
reads the body with the cloudevents SDK; the AMQP message is consumed from RabbitMQ."""

from __future__ import annotations

import base64
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from tests.actions.test_cloudevent import parse_cloudevent
from tests.conftest import port_open, wait_for
from tests.e2e.harness import Relay
from tests.store.store_helpers import count_by_state

pytestmark = pytest.mark.slow

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
SECRET = "whsec_" + base64.b64encode(b"e2e-secret-0123456789abcdef").decode()

CONFIG = """\
connections:
  s3: {{type: s3, endpoint_url: "{endpoint}", access_key_id: testing,
        secret_access_key: testing, path_style: true}}
  rabbit: {{type: amqp, url: "{amqp}"}}
sources:
  - {{name: drop, path: "{inbox}", silence: 300ms}}
routes:
  - name: ship
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{source}}/{{relpath}}"}}
        name: upload
      - parallel:
          - webhook: {{url: "{hook}", secret: "${{HOOK_SECRET}}"}}
            name: hook
          - publish: {{connection: rabbit, exchange: "{exchange}", routing_key: "files.{{ext}}"}}
            name: announce
      - move: {{to: "{done}/{{relpath}}"}}
"""


@pytest.fixture
def amqp_queue() -> Iterator[tuple[Connection, Queue, str]]:
    if not port_open("127.0.0.1", 5672):
        from tests.conftest import missing_service

        missing_service("RabbitMQ at 127.0.0.1:5672")
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    exchange = Exchange(name, type="topic", durable=True)
    queue = Queue(name, exchange, routing_key="files.#", auto_delete=False)
    with Connection(AMQP_URL) as conn:
        queue(conn.default_channel).declare()
        yield conn, queue, name
        queue(conn.default_channel).delete()
        exchange(conn.default_channel).delete()


def test_upload_then_webhook_and_publish_then_move(
    tmp_path, redis_url, moto_endpoint, s3_client, bucket, httpserver: HTTPServer, amqp_queue
):
    conn, queue, exchange = amqp_queue
    received: list[dict] = []
    lock = threading.Lock()

    def hook(request: Request) -> Response:
        body = request.get_data()
        headers = {k.lower(): v for k, v in request.headers.items()}
        Webhook(SECRET).verify(body.decode(), headers)  # raises on a bad signature
        with lock:
            received.append({"headers": headers, "event": parse_cloudevent(headers, body)})
        return Response("ok", 200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    text = CONFIG.format(
        endpoint=moto_endpoint,
        amqp=AMQP_URL,
        inbox=inbox,
        bucket=bucket,
        hook=httpserver.url_for("/hook"),
        exchange=exchange,
        done=done,
    )
    relay = Relay(tmp_path, text, broker_url=redis_url, extra_env={"HOOK_SECRET": SECRET})
    try:
        relay.start_worker()
        relay.start_watcher()
        data = os.urandom(30_000)
        (inbox / "sub").mkdir()
        (inbox / "sub" / "scan.pdf").write_bytes(data)
        # the file is uploaded, announced twice in parallel, then moved to done/
        wait_for(lambda: (done / "sub/scan.pdf").exists(), 90, what="the final move")
        body = s3_client.get_object(Bucket=bucket, Key="drop/sub/scan.pdf")["Body"].read()
        assert body == data and not (inbox / "sub/scan.pdf").exists()
        assert len(received) == 1
        event = received[0]["event"]
        assert event["subject"] == "sub/scan.pdf"
        assert event["data"]["steps"]["upload"]["key"] == "drop/sub/scan.pdf"
        webhook_id = received[0]["headers"]["webhook-id"]
        assert received[0]["headers"]["idempotency-key"] == webhook_id
        messages = []
        with conn.SimpleQueue(queue) as simple:
            message = simple.get(timeout=10)
            messages.append(message)
            message.ack()
        props = messages[0].properties
        assert props["message_id"].endswith(":ship:announce")
        raw = messages[0].body
        raw = raw.encode() if isinstance(raw, str) else raw
        published = parse_cloudevent({"content-type": messages[0].content_type}, raw)
        assert published["subject"] == "sub/scan.pdf"
        assert published["data"]["steps"]["upload"]["key"] == "drop/sub/scan.pdf"
        assert count_by_state(relay.store) == {"succeeded": 1}
    except BaseException:
        print(relay.logs())
        raise
    finally:
        relay.stop()
