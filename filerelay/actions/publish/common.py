"""What the ``publish`` transports share: the message to send, the receipt, the publisher
protocol and the secrets of a connection (masked from error messages with
:func:`filerelay.redaction.redact`).

A publisher is pooled per worker process in ``Resources.clients`` (one per connection name),
is safe to call from several threads, keeps its broker connection open between messages and
drops it after an error, so the next publish connects afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr


@dataclass(frozen=True)
class Outgoing:
    """One message to publish, fully rendered."""

    routing_key: str  # AMQP/Redis routing key, MQTT topic, NATS subject
    body: bytes
    content_type: str
    message_id: str
    headers: dict[str, str]
    timeout_s: float
    exchange: str = ""
    exchange_type: str = "topic"
    durable: bool = True
    qos: int = 1
    jetstream: bool = False


@dataclass(frozen=True)
class Receipt:
    """What the broker told us: whether it acknowledged the message, and transport details."""

    confirmed: bool
    details: dict[str, Any] = field(default_factory=dict)


class Publisher(Protocol):
    """A pooled, thread-safe connection to one broker."""

    transport: str

    def publish(self, message: Outgoing) -> Receipt: ...

    def close(self) -> None: ...


def connection_secrets(conn: BaseModel) -> list[str]:
    """Every secret of a connection model: SecretStr values and passwords inside URLs."""
    found: list[str] = []
    for name in type(conn).model_fields:
        value = getattr(conn, name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            text = item.get_secret_value() if isinstance(item, SecretStr) else item
            if isinstance(item, SecretStr):
                found.append(str(text))
            if isinstance(text, str) and "@" in text:
                found += _url_credentials(text)
    return found


def _url_credentials(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password] if password else []


def describe(exc: BaseException) -> str:
    """``ClassName: message`` of an exception, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
