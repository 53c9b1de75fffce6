"""The publish action to an MQTT broker (Mosquitto on loopback), read back by a paho subscriber."""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from filerelay.actions.base import Resources
from filerelay.actions.publish.action import PublishAction, PublishConfig, publisher_for
from filerelay.actions.publish.via_mqtt import MqttPublisher
from filerelay.config.models import MqttConnection
from filerelay.errors import PermanentError, RetryableError
from filerelay.model import FileEvent
from tests.actions.helpers import make_context, make_event, write_file
from tests.actions.test_cloudevent import parse_cloudevent
from tests.conftest import free_port, missing_service, port_open, wait_for

MQTT_HOST = "127.0.0.1"
MQTT_PORT = int(os.environ.get("FILERELAY_TEST_MQTT_PORT", "1883"))


class Subscriber:
    """A QoS 1 subscriber to ``<prefix>/#``; messages land in a queue (read with a deadline)."""

    def __init__(self, prefix: str) -> None:
        self.messages: queue.Queue[Any] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sub-{prefix}", protocol=mqtt.MQTTv5
        )
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self.client.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/#", qos=1)
        self.client.connect(MQTT_HOST, MQTT_PORT)
        self.client.loop_start()
        if not subscribed.wait(10):
            self.close()
            raise AssertionError("no SUBACK within 10 s")

    def next(self, timeout_s: float = 10) -> Any:
        return self.messages.get(timeout=timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def prefix() -> str:
    if not port_open(MQTT_HOST, MQTT_PORT):
        missing_service(f"MQTT broker at {MQTT_HOST}:{MQTT_PORT}")
    return f"filerelay-test/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def subscriber(prefix: str) -> Iterator[Subscriber]:
    sub = Subscriber(prefix)
    try:
        yield sub
    finally:
        sub.close()


@pytest.fixture
def resources() -> Iterator[Resources]:
    conn = MqttConnection(type="mqtt", host=MQTT_HOST, port=MQTT_PORT, connect_timeout=5)
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


def user_properties(msg: Any) -> dict[str, str]:
    return dict(getattr(msg.properties, "UserProperty", []))


def test_message_arrives_acknowledged_with_its_id(
    prefix: str, subscriber: Subscriber, resources: Resources, event: FileEvent
) -> None:
    # given a publish step whose topic is templated
    action = publish_action(
        resources, routing_key=prefix + "/{source}/{ext}", headers={"team": "vision"}
    )
    ctx = make_context(event, resources, step="1-publish")
    # when it runs (QoS 1 by default)
    result = action.run(ctx)
    # then the subscriber got the CloudEvent, with the id as a user property
    msg = subscriber.next()
    assert msg.topic == f"{prefix}/cam/jpg"
    assert msg.qos == 1
    assert msg.properties.ContentType == "application/cloudevents+json"
    assert user_properties(msg) == {"message-id": ctx.idempotency_key, "team": "vision"}
    cloud = parse_cloudevent({"content-type": "application/cloudevents+json"}, msg.payload)
    assert cloud["id"] == ctx.idempotency_key
    assert cloud["subject"] == "cam/a.jpg"
    assert result == {
        "transport": "mqtt",
        "exchange": None,
        "routing_key": f"{prefix}/cam/jpg",
        "message_id": ctx.idempotency_key,
        "confirmed": True,
    }


def test_client_stays_connected_across_publishes(
    prefix: str, subscriber: Subscriber, resources: Resources, event: FileEvent
) -> None:
    # given one worker process publishing twice
    action = publish_action(resources, routing_key=prefix + "/x")
    action.run(make_context(event, resources, step="a"))
    publisher = publisher_for(resources, "mq")
    assert isinstance(publisher, MqttPublisher)
    session = publisher._session
    # when it publishes again
    action.run(make_context(event, resources, step="b"))
    # then the same connected client was used
    assert publisher._session is session and publisher.connects == 1
    ids = {user_properties(subscriber.next())["message-id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_client_the_broker_dropped_is_replaced(
    prefix: str, subscriber: Subscriber, resources: Resources, event: FileEvent
) -> None:
    # given a connected publisher
    action = publish_action(resources, routing_key=prefix + "/x")
    action.run(make_context(event, resources, step="a"))
    subscriber.next()
    publisher = publisher_for(resources, "mq")
    assert isinstance(publisher, MqttPublisher) and publisher._session is not None
    old = publisher._session.client
    # when the broker drops it (another client takes over its client id)
    thief = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=publisher.client_id, protocol=mqtt.MQTTv5
    )
    thief.connect(MQTT_HOST, MQTT_PORT)
    thief.loop_start()
    try:
        wait_for(lambda: not old.is_connected(), 10, what="the broker to drop the publisher")
    finally:
        thief.disconnect()
        thief.loop_stop()
    # then the next publish connects a new client and is delivered
    action.run(make_context(event, resources, step="b"))
    assert publisher.connects == 2
    assert user_properties(subscriber.next())["message-id"].endswith(":b")


def test_qos_0_is_not_confirmed(
    prefix: str, subscriber: Subscriber, resources: Resources, event: FileEvent
) -> None:
    action = publish_action(resources, routing_key=prefix + "/q0", qos=0, format="raw")
    result = action.run(make_context(event, resources))
    assert result["confirmed"] is False
    assert subscriber.next().payload.startswith(b'{"source":"cam"')


def test_compensate_publishes_the_retraction(
    prefix: str, subscriber: Subscriber, resources: Resources, event: FileEvent
) -> None:
    action = publish_action(
        resources, routing_key=prefix + "/new", retraction={"routing_key": prefix + "/retracted"}
    )
    ctx = make_context(event, resources)
    result = action.run(ctx)
    subscriber.next()
    action.compensate(ctx, result)
    msg = subscriber.next()
    cloud = parse_cloudevent({"content-type": "application/cloudevents+json"}, msg.payload)
    assert msg.topic == prefix + "/retracted"
    assert cloud["type"] == "io.filerelay.file.retracted"
    assert cloud["data"]["retracts"] == result["message_id"]


def test_wildcard_topic_is_permanent(prefix: str, resources: Resources, event: FileEvent) -> None:
    action = publish_action(resources, routing_key=prefix + "/#")
    with pytest.raises(PermanentError, match="wildcard"):
        action.run(make_context(event, resources))


def test_broker_down_is_retryable(event: FileEvent) -> None:
    conn = MqttConnection(
        type="mqtt", host=MQTT_HOST, port=free_port(), password="mqttS3cret", username="u"
    )
    resources = Resources(connections={"mq": conn})
    try:
        with pytest.raises(RetryableError, match="refused") as err:
            publish_action(resources, routing_key="a/b").run(make_context(event, resources))
        assert "mqttS3cret" not in str(err.value)
    finally:
        resources.clients.close()
