"""The ``publish`` action: send the file's CloudEvent to a message broker.

Transports, by the type of the named connection:

- ``amqp`` (RabbitMQ) and ``redis``: kombu ``Producer.publish`` to ``exchange`` (declared,
  durable unless ``durable: false``) with ``routing_key``; AMQP publisher confirms
  (:mod:`filerelay.actions.publish.via_kombu`);
- ``mqtt``: ``routing_key`` is the topic, QoS ``qos`` (:mod:`filerelay.actions.publish.via_mqtt`);
- ``nats``: ``routing_key`` is the subject; with ``jetstream`` the stream's ack is awaited
  (:mod:`filerelay.actions.publish.via_nats`).

Every message carries the step's idempotency key as its id (AMQP ``message_id``, MQTT user
property ``message-id``, NATS ``Nats-Msg-Id``, and the CloudEvent ``id``), the same on every
retry, so consumers and JetStream can drop duplicates. Brokers are reached through publishers
pooled per worker process (one per connection name).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from filerelay.actions.base import Action, ActionContext, Resources
from filerelay.actions.publish.common import Outgoing, Publisher, Receipt
from filerelay.actions.webhook.cloudevent import (
    RETRACTED_EVENT_TYPE,
    Message,
    MessageFormat,
    build_message,
    clean_text,
    event_type_field,
    format_field,
)
from filerelay.config.models import (
    AmqpConnection,
    MqttConnection,
    NatsConnection,
    RedisConnection,
)
from filerelay.config.types import DurationS, TemplateStr
from filerelay.errors import PermanentError
from filerelay.model import JSONDict

RETRACTION_SUFFIX = ":retraction"
RESERVED_HEADERS = frozenset({"content-type", "message-id", "nats-msg-id"})
MAX_ROUTING_KEY_BYTES = {"amqp": 255, "redis": 255, "mqtt": 65535, "nats": 65535}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_NATS_SUBJECT = re.compile(r"^[^\s*>.]+(\.[^\s*>.]+)*$")


class Retraction(BaseModel):
    """The message ``compensate()`` publishes when a later step fails for good."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routing_key: TemplateStr | None = Field(
        default=None, description="Routing key / topic / subject; default: the step's own."
    )
    event_type: str = event_type_field(
        RETRACTED_EVENT_TYPE, " of the retraction (its data.retracts names the original message)"
    )


class PublishConfig(BaseModel):
    """Publish the file's event to RabbitMQ, Redis, MQTT or NATS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection: str = Field(description="Name of an amqp, redis, mqtt or nats connection.")
    exchange: str = Field(
        default="",
        max_length=255,
        pattern=r"^[A-Za-z0-9_.:-]*$",
        description="Exchange (AMQP, Redis); '' is the default exchange, which delivers to "
        "the queue named by the routing key. Not used by MQTT and NATS.",
    )
    exchange_type: Literal["direct", "topic", "fanout"] = Field(
        default="topic",
        description="Type the exchange is declared with (AMQP, Redis; on Redis 'fanout' "
        "reaches only consumers listening at that moment).",
    )
    routing_key: TemplateStr = Field(
        description="Routing key template (AMQP, Redis); the topic for MQTT, the subject for NATS.",
        examples=["files.{source}.new", "filerelay/{source}/{ext}"],
    )
    format: MessageFormat = format_field()
    event_type: str = event_type_field()
    durable: bool = Field(
        default=True,
        description="Persistent messages and a durable exchange (AMQP, Redis).",
    )
    headers: dict[str, TemplateStr] = Field(
        default={},
        description="Extra message headers (AMQP headers, MQTT 5 user properties, NATS "
        "headers); values are templates.",
    )
    qos: int = Field(default=1, ge=0, le=2, description="MQTT QoS; 1 and 2 wait for the ack.")
    jetstream: bool = Field(
        default=False,
        description="NATS: publish through JetStream and wait for the stream's ack "
        "(duplicates within the stream's window are dropped by message id).",
    )
    confirm_timeout: DurationS = Field(
        default=30.0,
        gt=0,
        description="Longest wait for the broker's acknowledgement (AMQP confirm, MQTT "
        "PUBACK, JetStream ack); at most the step's timeout.",
    )
    retraction: Retraction | None = Field(
        default=None,
        description="Publish a retraction message when a later step fails for good.",
    )

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r}: use letters, digits and -_.")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by filerelay itself")
        return value


class PublishAction(Action[PublishConfig]):
    """Publishes the event; ``compensate`` publishes the retraction, if configured.

    Result: ``{transport, exchange, routing_key, message_id, confirmed}``, plus ``stream``,
    ``sequence`` and ``duplicate`` for JetStream. ``exchange`` is None for MQTT and NATS.
    """

    name = "publish"
    reads_file = False
    Config = PublishConfig
    connection_type: ClassVar[tuple[str, ...]] = ("amqp", "redis", "mqtt", "nats")

    def run(self, ctx: ActionContext) -> JSONDict:
        cfg = self.config
        publisher = publisher_for(self.resources, cfg.connection)
        message = build_message(ctx, fmt=cfg.format, event_type=cfg.event_type)
        outgoing = self._outgoing(ctx, publisher.transport, cfg.routing_key, message)
        receipt = publisher.publish(outgoing)
        ctx.log.debug("published", transport=publisher.transport, confirmed=receipt.confirmed)
        return _result(publisher.transport, outgoing, receipt)

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Publish the retraction (its own stable id; ``data.retracts`` = the original id)."""
        cfg = self.config
        if cfg.retraction is None:
            return
        publisher = publisher_for(self.resources, cfg.connection)
        message = build_message(
            ctx,
            fmt=cfg.format,
            event_type=cfg.retraction.event_type,
            id_suffix=RETRACTION_SUFFIX,
            extra_data={"retracts": result.get("message_id")},
        )
        routing_key = cfg.retraction.routing_key or cfg.routing_key
        publisher.publish(self._outgoing(ctx, publisher.transport, routing_key, message))

    def _outgoing(
        self, ctx: ActionContext, transport: str, routing_key: str, message: Message
    ) -> Outgoing:
        cfg = self.config
        headers = {
            name: clean_text(ctx.render(tpl, f"header {name}")) for name, tpl in cfg.headers.items()
        }
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise PermanentError(f"header {name}: the rendered value has a line break")
        return Outgoing(
            routing_key=checked_routing_key(transport, ctx.render(routing_key, "routing_key")),
            body=message.body,
            content_type=message.content_type,
            message_id=message.id,
            headers=headers,
            timeout_s=min(cfg.confirm_timeout, ctx.timeout_s),
            exchange=cfg.exchange,
            exchange_type=cfg.exchange_type,
            durable=cfg.durable,
            qos=cfg.qos,
            jetstream=cfg.jetstream,
        )


def publisher_for(resources: Resources, name: str) -> Publisher:
    """The process-wide publisher of the named connection (built on first use)."""
    conn = resources.connection(name)
    publisher: Publisher = resources.clients.get(
        ("publish", name), lambda: _new_publisher(name, conn)
    )
    return publisher


def _new_publisher(name: str, conn: Any) -> Publisher:
    if isinstance(conn, AmqpConnection | RedisConnection):
        from filerelay.actions.publish.via_kombu import KombuPublisher

        return KombuPublisher(name, conn)
    if isinstance(conn, MqttConnection):
        from filerelay.actions.publish.via_mqtt import MqttPublisher

        return MqttPublisher(name, conn)
    if isinstance(conn, NatsConnection):
        from filerelay.actions.publish.via_nats import NatsPublisher

        return NatsPublisher(name, conn)
    kind = getattr(conn, "type", type(conn).__name__)
    raise PermanentError(f"connection {name!r} is {kind}, not amqp, redis, mqtt or nats")


def checked_routing_key(transport: str, key: str) -> str:
    """Refuse a rendered routing key, topic or subject the transport cannot carry."""
    size = len(key.encode("utf-8", "surrogateescape"))
    if size > MAX_ROUTING_KEY_BYTES[transport] or "\x00" in key:
        raise PermanentError(f"rendered routing key is too long ({size} bytes) or has a NUL")
    if transport == "mqtt" and (not key or "+" in key or "#" in key):
        raise PermanentError(f"MQTT topic {key!r} is empty or has a wildcard (+ or #)")
    if transport == "nats" and not _NATS_SUBJECT.match(key):
        raise PermanentError(f"NATS subject {key!r} is empty, has whitespace or wildcards")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise PermanentError("rendered routing key is not valid UTF-8 (file name?)") from None
    return key


def _result(transport: str, outgoing: Outgoing, receipt: Receipt) -> JSONDict:
    kombu = transport in ("amqp", "redis")
    return {
        "transport": transport,
        "exchange": outgoing.exchange if kombu else None,
        "routing_key": outgoing.routing_key,
        "message_id": outgoing.message_id,
        "confirmed": receipt.confirmed,
        **receipt.details,
    }
