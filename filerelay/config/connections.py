"""Connection models: the named endpoints steps refer to (``connections:`` in the YAML)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from filerelay.config.limits import BreakerConfig, RateLimit, breaker_field, rate_limit_field
from filerelay.config.types import DurationS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3Connection(Strict):
    """An S3-compatible endpoint (AWS, MinIO, SeaweedFS, Ceph, ...)."""

    type: Literal["s3"] = Field(description="Connection type.")
    endpoint_url: str | None = Field(None, description="Endpoint URL; unset for AWS.")
    region: str = Field("us-east-1", description="Region name.")
    access_key_id: SecretStr | None = Field(None, description="Access key id (use ${ENV}).")
    secret_access_key: SecretStr | None = Field(None, description="Secret key (use ${ENV}).")
    session_token: SecretStr | None = Field(None, description="Session token, if any.")
    path_style: bool = Field(False, description="Path-style addressing (MinIO, SeaweedFS).")
    verify_ssl: bool | str = Field(True, description="Verify TLS; or a CA bundle path.")
    connect_timeout: DurationS = Field(10.0, description="Connect timeout.")
    read_timeout: DurationS = Field(60.0, description="Read timeout.")
    max_pool_connections: int = Field(32, ge=1, description="HTTP connections per process.")
    rate_limit: RateLimit | None = rate_limit_field()
    breaker: BreakerConfig | None = breaker_field()


class AmqpConnection(Strict):
    """An AMQP 0-9-1 broker (RabbitMQ), for ``publish``."""

    type: Literal["amqp"] = Field(description="Connection type.")
    url: SecretStr = Field(description="amqp://user:password@host:5672/vhost (use ${ENV}).")
    confirm_publish: bool = Field(True, description="Wait for publisher confirms.")
    connect_timeout: DurationS = Field(10.0, description="Connect timeout.")
    heartbeat: DurationS = Field(60.0, description="AMQP heartbeat.")
    rate_limit: RateLimit | None = rate_limit_field()
    breaker: BreakerConfig | None = breaker_field()


class RedisConnection(Strict):
    """A Redis server, for ``publish`` (kombu's Redis transport)."""

    type: Literal["redis"] = Field(description="Connection type.")
    url: SecretStr = Field(description="redis://[:password@]host:6379/db (use ${ENV}).")
    connect_timeout: DurationS = Field(10.0, description="Connect timeout.")
    rate_limit: RateLimit | None = rate_limit_field()
    breaker: BreakerConfig | None = breaker_field()


class MqttConnection(Strict):
    """An MQTT broker (Mosquitto, EMQX, ...), for ``publish`` (extra ``mqtt``)."""

    type: Literal["mqtt"] = Field(description="Connection type.")
    host: str = Field(description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(None, description="User name.")
    password: SecretStr | None = Field(None, description="Password (use ${ENV}).")
    client_id: str | None = Field(None, description="Client id; default: generated.")
    tls: bool = Field(False, description="Use TLS.")
    keepalive: DurationS = Field(60.0, description="Keepalive interval.")
    connect_timeout: DurationS = Field(10.0, description="Connect timeout.")
    rate_limit: RateLimit | None = rate_limit_field()
    breaker: BreakerConfig | None = breaker_field()


class NatsConnection(Strict):
    """A NATS server (optionally JetStream), for ``publish`` (extra ``nats``)."""

    type: Literal["nats"] = Field(description="Connection type.")
    servers: list[str] = Field(min_length=1, description="nats://host:4222 URLs.")
    user: str | None = Field(None, description="User name.")
    password: SecretStr | None = Field(None, description="Password (use ${ENV}).")
    token: SecretStr | None = Field(None, description="Auth token (use ${ENV}).")
    connect_timeout: DurationS = Field(10.0, description="Connect timeout.")
    rate_limit: RateLimit | None = rate_limit_field()
    breaker: BreakerConfig | None = breaker_field()


class SmtpConnection(Strict):
    """An SMTP server, for ``notify`` e-mail."""

    type: Literal["smtp"] = Field(description="Connection type.")
    host: str = Field(description="SMTP host.")
    port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    username: str | None = Field(None, description="Login user.")
    password: SecretStr | None = Field(None, description="Login password (use ${ENV}).")
    starttls: bool = Field(False, description="Upgrade with STARTTLS.")
    ssl: bool = Field(False, description="Implicit TLS (port 465).")
    sender: str = Field(description="From address.")
    timeout: DurationS = Field(30.0, description="Socket timeout.")
    rate_limit: RateLimit | None = rate_limit_field()
    breaker: BreakerConfig | None = breaker_field()


Connection = Annotated[
    Union[  # noqa: UP007
        S3Connection,
        AmqpConnection,
        RedisConnection,
        MqttConnection,
        NatsConnection,
        SmtpConnection,
    ],
    Field(discriminator="type"),
]
CONNECTION_MODELS = (
    S3Connection,
    AmqpConnection,
    RedisConnection,
    MqttConnection,
    NatsConnection,
    SmtpConnection,
)
CONNECTION_TYPES = frozenset({"s3", "amqp", "redis", "mqtt", "nats", "smtp"})
