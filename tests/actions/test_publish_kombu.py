"""The publish action to RabbitMQ and Redis through kombu, consumed back with kombu.

Each test uses its own exchange and queue (RabbitMQ) or database (Redis) and removes them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from filerelay.actions.base import ActionContext, Resources
from filerelay.actions.publish.action import PublishAction, PublishConfig, publisher_for
from filerelay.actions.publish.via_kombu import KombuPublisher
from filerelay.config.models import AmqpConnection, RedisConnection
from filerelay.errors import PermanentError, RetryableError
from filerelay.model import FileEvent
from tests.actions.helpers import make_context, make_event, write_file
from tests.actions.test_cloudevent import parse_cloudevent
from tests.conftest import free_port, missing_service, port_open, wait_for

AMQP_URL = os.environ.get("FILERELAY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def amqp_url() -> str:
    if not port_open("127.0.0.1", 5672):
        missing_service("RabbitMQ at 127.0.0.1:5672")
    return AMQP_URL


@pytest.fixture
def names() -> tuple[str, str]:
    """A fresh exchange and queue name."""
    uid = uuid.uuid4().hex[:10]
    return f"filerelay-test-ex-{uid}", f"filerelay-test-q-{uid}"


@pytest.fixture
def event(src: Path) -> FileEvent:
    return make_event(write_file(src / "cam" / "a.jpg", b"jpeg"), src, source="cam")


@pytest.fixture
def resources_for() -> Iterator[Callable[..., Resources]]:
    """Builds Resources with one connection named 'mq'; closes every publisher afterwards."""
    built: list[Resources] = []

    def build(conn: Any) -> Resources:
        res = Resources(connections={"mq": conn})
        built.append(res)
        return res

    try:
        yield build
    finally:
        for res in built:
            res.clients.close()


def publish_action(resources: Resources, **config: Any) -> PublishAction:
    cfg = PublishConfig.model_validate({"connection": "mq", "routing_key": "files.new", **config})
    return PublishAction(cfg, resources)


def ctx_for(event: FileEvent, resources: Resources, step: str = "1-publish") -> ActionContext:
    return make_context(event, resources, route="video", step=step)


class Consumer:
    """A queue bound to an exchange, read with kombu (``get`` polls, no sleeps)."""

    def __init__(self, url: str, exchange: str, queue: str, key: str, kind: str = "topic"):
        self.connection = Connection(url)
        self.exchange = Exchange(exchange, kind, durable=True)
        self.queue = Queue(queue, self.exchange, routing_key=key, durable=False)
        self.bound = self.queue(self.connection.default_channel)
        self.bound.declare()

    def next(self, timeout_s: float = 10) -> Any:
        return wait_for(lambda: self.bound.get(no_ack=True), timeout_s, what="a message")

    def close(self) -> None:
        try:
            self.bound.delete()
            self.exchange(self.connection.default_channel).delete()
        finally:
            self.connection.release()


@pytest.fixture
def rabbit(amqp_url: str, names: tuple[str, str]) -> Iterator[Consumer]:
    consumer = Consumer(amqp_url, names[0], names[1], "files.#")
    try:
        yield consumer
    finally:
        consumer.close()


def amqp_conn(url: str, **overrides: Any) -> AmqpConnection:
    return AmqpConnection(**{"type": "amqp", "url": url, "connect_timeout": 2, **overrides})


# --- RabbitMQ ---------------------------------------------------------------------------


def test_amqp_message_is_a_confirmed_cloudevent_with_the_idempotency_key_as_id(
    amqp_url: str, rabbit: Consumer, names: tuple[str, str], event: FileEvent, resources_for: Any
) -> None:
    # given a publish step to a fresh topic exchange with a bound queue
    resources = resources_for(amqp_conn(amqp_url))
    action = publish_action(
        resources,
        exchange=names[0],
        routing_key="files.{source}.{ext}",
        headers={"x-team": "{tags.team}"},
    )
    ctx = ctx_for(event.model_copy(update={"tags": {"team": "vision"}}), resources)
    # when it runs
    result = action.run(ctx)
    # then the queue holds one persistent CloudEvent whose message_id is the idempotency key
    msg = rabbit.next()
    assert msg.properties["message_id"] == ctx.idempotency_key
    assert msg.properties["delivery_mode"] == 2
    assert msg.content_type == "application/cloudevents+json"
    assert msg.headers["x-team"] == "vision"
    cloud = parse_cloudevent({"content-type": msg.content_type}, msg.body)
    assert cloud["id"] == ctx.idempotency_key
    assert cloud["subject"] == "cam/a.jpg"
    assert cloud["data"]["route"] == "video"
    assert result == {
        "transport": "amqp",
        "exchange": names[0],
        "routing_key": "files.cam.jpg",
        "message_id": ctx.idempotency_key,
        "confirmed": True,
    }


def test_amqp_raw_format_to_the_default_exchange(
    amqp_url: str, names: tuple[str, str], event: FileEvent, resources_for: Any
) -> None:
    # given a queue reached through the default exchange (routing key = queue name)
    conn = Connection(amqp_url)
    queue = Queue(names[1], durable=False)(conn.default_channel)
    queue.declare()
    try:
        resources = resources_for(amqp_conn(amqp_url))
        action = publish_action(resources, routing_key=names[1], format="raw", durable=False)
        # when a raw message is published
        result = action.run(ctx_for(event, resources))
        # then the body is the plain data object
        msg: Any = wait_for(lambda: queue.get(no_ack=True), 10, what="a message")
        assert msg.content_type == "application/json"
        assert msg.properties["delivery_mode"] == 1
        assert msg.decode()["relpath"] == "cam/a.jpg"
        assert result["exchange"] == ""
    finally:
        queue.delete()
        conn.release()


def test_amqp_connection_is_pooled_and_safe_for_threads(
    amqp_url: str, rabbit: Consumer, names: tuple[str, str], event: FileEvent, resources_for: Any
) -> None:
    # given one worker process's resources and 4 threads publishing 5 messages each
    resources = resources_for(amqp_conn(amqp_url))
    action = publish_action(resources, exchange=names[0])
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for i in range(5):
                action.run(ctx_for(event, resources, step=f"t{thread}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    # when they all publish
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # then every message arrived, through one connection
    assert not errors
    ids = {rabbit.next().properties["message_id"] for _ in range(20)}
    assert len(ids) == 20
    publisher = publisher_for(resources, "mq")
    assert isinstance(publisher, KombuPublisher)
    assert publisher.connects == 1


def test_amqp_connection_idle_past_half_its_heartbeat_is_replaced(
    amqp_url: str, rabbit: Consumer, names: tuple[str, str], event: FileEvent, resources_for: Any
) -> None:
    # given a pooled connection last used longer ago than half its 60 s heartbeat
    resources = resources_for(amqp_conn(amqp_url, heartbeat=60))
    action = publish_action(resources, exchange=names[0])
    action.run(ctx_for(event, resources, step="a"))
    publisher = publisher_for(resources, "mq")
    assert isinstance(publisher, KombuPublisher)
    publisher._last_used -= 31
    # when the next message is published
    action.run(ctx_for(event, resources, step="b"))
    # then it went through a fresh connection
    assert publisher.connects == 2
    assert {rabbit.next().properties["message_id"][-1] for _ in range(2)} == {"a", "b"}


def test_amqp_exchange_of_another_type_is_permanent_and_the_next_publish_reconnects(
    amqp_url: str, rabbit: Consumer, names: tuple[str, str], event: FileEvent, resources_for: Any
) -> None:
    # given the test's exchange exists as a topic exchange
    resources = resources_for(amqp_conn(amqp_url))
    publisher = publisher_for(resources, "mq")
    assert isinstance(publisher, KombuPublisher)
    # when a step declares it as direct
    bad = publish_action(resources, exchange=names[0], exchange_type="direct")
    with pytest.raises(PermanentError, match="PRECONDITION_FAILED"):
        bad.run(ctx_for(event, resources))
    # then a correct step afterwards works on a new connection
    publish_action(resources, exchange=names[0]).run(ctx_for(event, resources))
    assert rabbit.next().properties["message_id"]
    assert publisher.connects == 2


def test_amqp_missing_exchange_is_permanent(
    amqp_url: str, event: FileEvent, resources_for: Any
) -> None:
    # 'amq.*' names are reserved, so kombu does not declare them: the publish meets NOT_FOUND
    resources = resources_for(amqp_conn(amqp_url))
    action = publish_action(resources, exchange=f"amq.filerelay-missing-{uuid.uuid4().hex[:6]}")
    with pytest.raises(PermanentError, match="NOT_FOUND"):
        action.run(ctx_for(event, resources))


def test_amqp_wrong_password_is_permanent_and_not_quoted(
    amqp_url: str, event: FileEvent, resources_for: Any
) -> None:
    url = amqp_url.replace("guest:guest@", "guest:Wr0ngPassw0rd@")
    resources = resources_for(amqp_conn(url))
    with pytest.raises(PermanentError, match="ACCESS_REFUSED") as err:
        publish_action(resources).run(ctx_for(event, resources))
    assert "Wr0ngPassw0rd" not in str(err.value)


def test_amqp_broker_down_is_retryable(event: FileEvent, resources_for: Any) -> None:
    resources = resources_for(
        amqp_conn(f"amqp://guest:s3cretpw@127.0.0.1:{free_port()}//", connect_timeout=1)
    )
    started = time.monotonic()
    with pytest.raises(RetryableError, match="refused") as err:
        publish_action(resources, exchange="files").run(ctx_for(event, resources))
    assert time.monotonic() - started < 10
    assert "s3cretpw" not in str(err.value)


def test_amqp_compensate_publishes_the_retraction(
    amqp_url: str, rabbit: Consumer, names: tuple[str, str], event: FileEvent, resources_for: Any
) -> None:
    # given a completed publish step with a retraction configured
    resources = resources_for(amqp_conn(amqp_url))
    action = publish_action(
        resources, exchange=names[0], retraction={"routing_key": "files.retracted"}
    )
    ctx = ctx_for(event, resources)
    result = action.run(ctx)
    rabbit.next()
    # when it is compensated
    action.compensate(ctx, result)
    # then a retraction naming the original message arrived under its own stable id
    msg = rabbit.next()
    cloud = parse_cloudevent({"content-type": msg.content_type}, msg.body)
    assert msg.delivery_info["routing_key"] == "files.retracted"
    assert cloud["type"] == "io.filerelay.file.retracted"
    assert cloud["data"]["retracts"] == result["message_id"]
    assert msg.properties["message_id"] == ctx.idempotency_key + ":retraction"


def test_amqp_non_utf8_file_name_in_a_header_is_escaped(
    amqp_url: str, rabbit: Consumer, names: tuple[str, str], tmp_path: Path, resources_for: Any
) -> None:
    # given a file whose name is not valid UTF-8, named in a header
    root = tmp_path / "raw"
    root.mkdir()
    raw_name = b"caf\xe9.txt"
    with open(os.path.join(os.fsencode(root), raw_name), "wb") as fh:
        fh.write(b"x")
    event = make_event(root / os.fsdecode(raw_name), root)
    resources = resources_for(amqp_conn(amqp_url))
    action = publish_action(resources, exchange=names[0], headers={"x-name": "{name}"})
    # when it is published
    action.run(ctx_for(event, resources))
    # then the header and the event carry escaped text
    msg = rabbit.next()
    assert msg.headers["x-name"] == "caf\\xe9.txt"
    assert parse_cloudevent({"content-type": msg.content_type}, msg.body)["subject"] == (
        "caf\\xe9.txt"
    )
    # and a routing key made from the name is refused
    with pytest.raises(PermanentError, match="not valid UTF-8"):
        publish_action(resources, exchange=names[0], routing_key="f.{name}").run(
            ctx_for(event, resources)
        )


# --- Redis ------------------------------------------------------------------------------


def test_redis_message_reaches_a_bound_queue(
    redis_url: str, names: tuple[str, str], event: FileEvent, resources_for: Any
) -> None:
    # given a queue bound to a kombu exchange on the test's Redis database
    consumer = Consumer(redis_url, names[0], names[1], "files.#")
    try:
        resources = resources_for(RedisConnection(type="redis", url=redis_url, connect_timeout=2))
        action = publish_action(resources, exchange=names[0])
        ctx = ctx_for(event, resources)
        # when a message is published twice (a retry)
        result = action.run(ctx)
        action.run(ctx)
        # then both copies carry the same id and the CloudEvent, through one connection
        first, second = consumer.next(), consumer.next()
        assert first.properties["message_id"] == second.properties["message_id"]
        assert first.properties["message_id"] == ctx.idempotency_key
        cloud = parse_cloudevent({"content-type": first.content_type}, first.body)
        assert cloud["subject"] == "cam/a.jpg"
        assert result["transport"] == "redis" and result["confirmed"] is True
        publisher = publisher_for(resources, "mq")
        assert isinstance(publisher, KombuPublisher) and publisher.connects == 1
    finally:
        consumer.close()


def test_redis_down_is_retryable(event: FileEvent, resources_for: Any) -> None:
    url = f"redis://:r3dispass@127.0.0.1:{free_port()}/0"
    resources = resources_for(RedisConnection(type="redis", url=url, connect_timeout=1))
    with pytest.raises(RetryableError) as err:
        publish_action(resources, exchange="files").run(ctx_for(event, resources))
    assert "r3dispass" not in str(err.value)
