"""The publish action to NATS (core and JetStream) on loopback, read back from a test stream.

Each test creates its own stream (unique name and subjects) and deletes it afterwards; core
publishes are captured by the stream too, which is how the test reads them.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
from nats.js.api import StreamConfig

from filerelay.actions.base import Resources
from filerelay.actions.publish.action import PublishAction, PublishConfig, publisher_for
from filerelay.actions.publish.via_nats import NatsPublisher
from filerelay.config.models import NatsConnection
from filerelay.errors import PermanentError, RetryableError
from filerelay.model import FileEvent
from tests.actions.helpers import make_context, make_event, write_file
from tests.actions.test_cloudevent import parse_cloudevent
from tests.conftest import free_port, missing_service, port_open, wait_for

NATS_PORT = int(os.environ.get("FILERELAY_TEST_NATS_PORT", "4222"))
NATS_URL = f"nats://127.0.0.1:{NATS_PORT}"
T = TypeVar("T")


def with_nats(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(jetstream)`` on a fresh test-side connection."""

    async def main() -> T:
        nc = await nats.connect(NATS_URL, connect_timeout=5, allow_reconnect=False)
        try:
            return await work(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(main())


@dataclass(frozen=True)
class Stream:
    """A test stream capturing ``<subject>.>``."""

    name: str
    subject: str

    def messages(self) -> int:
        async def count(js: Any) -> int:
            return int((await js.stream_info(self.name)).state.messages)

        return with_nats(count)

    def message(self, seq: int) -> Any:
        async def get(js: Any) -> Any:
            return await js.get_msg(self.name, seq)

        return with_nats(get)


@pytest.fixture
def stream() -> Iterator[Stream]:
    if not port_open("127.0.0.1", NATS_PORT):
        missing_service(f"NATS at {NATS_URL}")
    uid = uuid.uuid4().hex[:10]
    created = Stream(f"FILERELAY_TEST_{uid}", f"filerelay-test.{uid}")

    async def add(js: Any) -> None:
        await js.add_stream(StreamConfig(name=created.name, subjects=[created.subject + ".>"]))

    async def delete(js: Any) -> None:
        await js.delete_stream(created.name)

    with_nats(add)
    try:
        yield created
    finally:
        with_nats(delete)


@pytest.fixture
def resources() -> Iterator[Resources]:
    conn = NatsConnection(type="nats", servers=[NATS_URL], connect_timeout=5)
    res = Resources(connections={"mq": conn})
    try:
        yield res
    finally:
        res.clients.close()


@pytest.fixture
def event(src: Path) -> FileEvent:
    return make_event(write_file(src / "cam" / "a.jpg", b"jpeg"), src, source="cam")


def publish_action(resources: Resources, **config: Any) -> PublishAction:
    return PublishAction(PublishConfig.model_validate({"connection": "mq", **config}), resources)


def test_core_publish_carries_the_id_header_and_the_cloudevent(
    stream: Stream, resources: Resources, event: FileEvent
) -> None:
    # given a core NATS publish whose subject is templated
    action = publish_action(resources, routing_key=stream.subject + ".{source}.{ext}")
    ctx = make_context(event, resources, step="1-publish")
    # when it runs
    result = action.run(ctx)
    # then the message reached the server with Nats-Msg-Id and the CloudEvent body
    wait_for(lambda: stream.messages() == 1, 10, what="the stream to store the message")
    msg = stream.message(1)
    assert msg.subject == stream.subject + ".cam.jpg"
    assert msg.headers["Nats-Msg-Id"] == ctx.idempotency_key
    assert msg.headers["Content-Type"] == "application/cloudevents+json"
    cloud = parse_cloudevent({"content-type": "application/cloudevents+json"}, msg.data)
    assert cloud["id"] == ctx.idempotency_key
    assert cloud["subject"] == "cam/a.jpg"
    assert result == {
        "transport": "nats",
        "exchange": None,
        "routing_key": stream.subject + ".cam.jpg",
        "message_id": ctx.idempotency_key,
        "confirmed": False,
    }


def test_jetstream_drops_a_retried_duplicate(
    stream: Stream, resources: Resources, event: FileEvent
) -> None:
    # given a JetStream publish step
    action = publish_action(resources, routing_key=stream.subject + ".new", jetstream=True)
    # when two attempts of the same step publish
    first = action.run(make_context(event, resources, attempt=1))
    second = action.run(make_context(event, resources, attempt=2))
    # then the stream holds one message and the second ack says duplicate
    assert stream.messages() == 1
    assert first["confirmed"] is True and first["duplicate"] is False
    assert second["duplicate"] is True and second["sequence"] == first["sequence"]
    assert first["stream"] == stream.name


def test_connection_is_pooled_replaced_when_closed_and_stopped_with_its_thread(
    stream: Stream, resources: Resources, event: FileEvent
) -> None:
    # given one worker process publishing twice
    action = publish_action(resources, routing_key=stream.subject + ".x", jetstream=True)
    action.run(make_context(event, resources, step="a"))
    action.run(make_context(event, resources, step="b"))
    publisher = publisher_for(resources, "mq")
    assert isinstance(publisher, NatsPublisher)
    # then one connection served both
    assert publisher.connects == 1
    assert stream.messages() == 2
    # and when that connection is closed under it, the next publish opens a new one
    loop = publisher._loop
    assert loop is not None
    asyncio.run_coroutine_threadsafe(publisher._nc.close(), loop).result(10)
    action.run(make_context(event, resources, step="c"))
    assert publisher.connects == 2
    # and closing the pool stops its event-loop thread
    thread = publisher._thread
    assert thread is not None and thread.is_alive()
    resources.clients.close()
    assert not thread.is_alive()


def test_jetstream_without_a_stream_is_permanent(resources: Resources, event: FileEvent) -> None:
    if not port_open("127.0.0.1", NATS_PORT):
        missing_service(f"NATS at {NATS_URL}")
    subject = f"filerelay-test-nostream.{uuid.uuid4().hex[:8]}"
    action = publish_action(resources, routing_key=subject, jetstream=True, confirm_timeout=2)
    with pytest.raises(PermanentError, match="no JetStream stream"):
        action.run(make_context(event, resources))


def test_compensate_publishes_the_retraction(
    stream: Stream, resources: Resources, event: FileEvent
) -> None:
    action = publish_action(
        resources,
        routing_key=stream.subject + ".new",
        jetstream=True,
        retraction={"routing_key": stream.subject + ".retracted"},
    )
    ctx = make_context(event, resources)
    result = action.run(ctx)
    action.compensate(ctx, result)
    msg = stream.message(2)
    cloud = parse_cloudevent({"content-type": "application/cloudevents+json"}, msg.data)
    assert msg.subject == stream.subject + ".retracted"
    assert msg.headers["Nats-Msg-Id"] == ctx.idempotency_key + ":retraction"
    assert cloud["data"]["retracts"] == result["message_id"]


def test_server_down_is_retryable(event: FileEvent) -> None:
    conn = NatsConnection(
        type="nats", servers=[f"nats://u:natsS3cret@127.0.0.1:{free_port()}"], connect_timeout=1
    )
    resources = Resources(connections={"mq": conn})
    started = time.monotonic()
    try:
        with pytest.raises(RetryableError) as err:
            publish_action(resources, routing_key="a.b").run(make_context(event, resources))
        assert "natsS3cret" not in str(err.value)
        assert time.monotonic() - started < 10
    finally:
        resources.clients.close()
