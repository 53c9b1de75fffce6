"""The publish action's config, routing-key checks, error tables and loading (no broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from amqp import exceptions as amqp_errors
from kombu.exceptions import OperationalError
from pydantic import ValidationError

from filerelay.actions.publish.action import PublishConfig, checked_routing_key
from filerelay.actions.publish.common import connection_secrets
from filerelay.actions.publish.via_kombu import translate_error as kombu_error
from filerelay.actions.publish.via_nats import translate_error as nats_error
from filerelay.actions.registry import Registry
from filerelay.config import ActionCatalog, parse_config_text
from filerelay.config.models import AmqpConnection, NatsConnection
from filerelay.errors import ConfigError, PermanentError, RetryableError
from filerelay.redaction import redact

BASE = {"connection": "mq", "routing_key": "files.new"}


def test_defaults() -> None:
    cfg = PublishConfig.model_validate(BASE)
    assert (cfg.exchange, cfg.exchange_type, cfg.durable, cfg.qos) == ("", "topic", True, 1)
    assert (cfg.format, cfg.event_type, cfg.jetstream) == ("cloudevents", cfg.event_type, False)
    assert cfg.event_type == "io.filerelay.file.stable"
    assert cfg.confirm_timeout == 30.0
    assert cfg.retraction is None


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"routing_key": "files.{nope}"}, "unknown field"),
        ({"exchange": "bad name"}, "String should match pattern"),
        ({"exchange_type": "headers"}, "'direct', 'topic' or 'fanout'"),
        ({"qos": 3}, "less than or equal to 2"),
        ({"headers": {"Nats-Msg-Id": "x"}}, "set by filerelay"),
        ({"headers": {"a b": "x"}}, "use letters, digits"),
        ({"event_type": "has space"}, "String should match pattern"),
        ({"retraction": {"topic": "x"}}, "Extra inputs are not permitted"),
        ({"confirm_timeout": "0s"}, "greater than 0"),
        ({"mandatory": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configs_are_rejected_at_load(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        PublishConfig.model_validate({**BASE, **extra})
    assert words in str(err.value)


def test_every_config_field_is_described() -> None:
    from filerelay.actions.publish.action import Retraction

    for model in (PublishConfig, Retraction):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"


@pytest.mark.parametrize(
    ("transport", "key", "ok"),
    [
        ("amqp", "files.cam.jpg", True),
        ("amqp", "x" * 256, False),
        ("redis", "k\x00", False),
        ("mqtt", "a/b/c", True),
        ("mqtt", "a/+/c", False),
        ("mqtt", "a/#", False),
        ("mqtt", "", False),
        ("nats", "a.b.c", True),
        ("nats", "a b", False),
        ("nats", "a.*", False),
        ("nats", "a..b", False),
        ("amqp", "caf\udce9", False),
    ],
)
def test_rendered_routing_keys_are_checked(transport: str, key: str, ok: bool) -> None:
    if ok:
        assert checked_routing_key(transport, key) == key
    else:
        with pytest.raises(PermanentError):
            checked_routing_key(transport, key)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OperationalError("[Errno 111] Connection refused"), RetryableError),
        (ConnectionRefusedError(111, "Connection refused"), RetryableError),
        (TimeoutError("timed out"), RetryableError),
        (amqp_errors.ConnectionForced("shutdown"), RetryableError),
        (amqp_errors.InternalError("oops"), RetryableError),
        (amqp_errors.AccessRefused("ACCESS_REFUSED"), PermanentError),
        (amqp_errors.NotFound("NOT_FOUND - no exchange"), PermanentError),
        (amqp_errors.PreconditionFailed("inequivalent arg 'type'"), PermanentError),
        (amqp_errors.NotAllowed("vhost not found"), PermanentError),
        (ValueError("bad"), PermanentError),
    ],
)
def test_kombu_errors(exc: Exception, expected: type[Exception]) -> None:
    err = kombu_error(exc, "publish to amqp 'mq'", [])
    assert type(err) is expected
    assert str(err).startswith("publish to amqp 'mq': ")


def test_redis_login_refusal_is_permanent() -> None:
    from redis.exceptions import AuthenticationError

    wrapped = OperationalError("login failed")
    wrapped.__cause__ = AuthenticationError("WRONGPASS invalid username-password pair")
    assert type(kombu_error(wrapped, "publish", [])) is PermanentError


def test_nats_errors() -> None:
    import nats.errors as ne
    import nats.js.errors as jse

    table = [
        (ne.NoServersError(), RetryableError),
        (ne.ConnectionClosedError(), RetryableError),
        (ne.TimeoutError(), RetryableError),
        (jse.APIError(code=503, description="unavailable"), RetryableError),
        (jse.NoStreamResponseError(), PermanentError),
        (ne.NoRespondersError(), PermanentError),
        (ne.AuthorizationError(), PermanentError),
        (ne.MaxPayloadError(), PermanentError),
        (jse.APIError(code=400, description="bad request"), PermanentError),
    ]
    for exc, expected in table:
        assert type(nats_error(exc, "publish", [])) is expected, exc


def test_connection_secrets_are_found_and_redacted() -> None:
    amqp = AmqpConnection(type="amqp", url="amqp://user:pa55word@host:5672//")
    nats = NatsConnection(
        type="nats", servers=["nats://u:natspass@h:4222"], token="tok3n-value", password="pw12"
    )
    assert connection_secrets(amqp) == ["amqp://user:pa55word@host:5672//", "pa55word"]
    assert set(connection_secrets(nats)) == {"natspass", "tok3n-value", "pw12"}
    assert redact("could not log in with pa55word", connection_secrets(amqp)) == (
        "could not log in with ***"
    )


CATALOG = ActionCatalog.from_registry(
    Registry({"publish": "filerelay.actions.publish.action:PublishAction"})
)


def config_text(root: Path, connection: str) -> str:
    return (
        "connections:\n"
        '  rabbit: {type: amqp, url: "${AMQP_URL}"}\n'
        "  iot: {type: mqtt, host: 127.0.0.1}\n"
        '  store: {type: s3, endpoint_url: "http://127.0.0.1:9000"}\n'
        f"sources: [{{name: cam, path: {root}}}]\n"
        "routes:\n"
        "  - name: r\n"
        "    steps:\n"
        f"      - publish: {{connection: {connection}, routing_key: files.new}}\n"
    )


@pytest.mark.parametrize("connection", ["rabbit", "iot"])
def test_the_loader_accepts_broker_connections(tmp_path: Path, connection: str) -> None:
    env = {"AMQP_URL": "amqp://guest:guest@127.0.0.1:5672//"}
    model = parse_config_text(config_text(tmp_path, connection), "rules.yaml", CATALOG, env=env)
    assert model.routes[0].steps[0].publish.connection == connection  # type: ignore[attr-defined]


def test_the_loader_refuses_a_connection_of_another_type(tmp_path: Path) -> None:
    env = {"AMQP_URL": "amqp://guest:guest@127.0.0.1:5672//"}
    with pytest.raises(ConfigError) as err:
        parse_config_text(config_text(tmp_path, "store"), "rules.yaml", CATALOG, env=env)
    assert "rules.yaml:9" in str(err.value)
    assert "connection 'store' is s3" in str(err.value)
