"""AMQP (RabbitMQ) and Redis publishing through kombu, and the translation of their errors.

::

    error                                                       filerelay error
    ─────────────────────────────────────────────────────────   ──────────────────────
    connection refused/reset, timeouts, kombu OperationalError   RetryableError
    AMQP 320 CONNECTION_FORCED, 405, 504, 506, 541, nack         RetryableError
    AMQP 403 ACCESS_REFUSED, 404 NOT_FOUND, 406 PRECONDITION_
      FAILED (exchange of another type), 530 NOT_ALLOWED (vhost)  PermanentError
    Redis authentication/authorization errors                    PermanentError

One kombu ``Connection`` per connection name and worker process, reused for every message and
serialized by a lock (a kombu channel is not thread-safe; a publish on loopback takes
milliseconds, confirms included). It is dropped after any error and rebuilt on the next
publish; an AMQP connection idle for half its heartbeat is rebuilt first (nobody sends
heartbeats on an idle publisher connection, so the broker may have closed it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from filerelay.actions.publish.common import Outgoing, Receipt, connection_secrets, describe
from filerelay.config.models import AmqpConnection, RedisConnection
from filerelay.errors import ActionError, PermanentError, RetryableError
from filerelay.redaction import redact

# kombu reconnects and republishes this often within one attempt; our retry layer does the rest
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
PERMANENT_AMQP_CODES = frozenset({311, 402, 403, 404, 406, 530, 540})
MAX_ROUTING_KEY_BYTES = 255


class KombuPublisher:
    """A pooled kombu connection to one AMQP or Redis broker."""

    def __init__(self, name: str, conn: AmqpConnection | RedisConnection) -> None:
        self.name = name
        self.transport: str = conn.type
        self.conn = conn
        self.connects = 0  # connections opened so far (tests check the pooling)
        self._lock = threading.Lock()
        self._connection: Any = None
        self._last_used = 0.0
        self._secrets = connection_secrets(conn)

    def publish(self, message: Outgoing) -> Receipt:
        """Publish ``message`` (declaring its exchange); confirmed when the broker acked it."""
        from kombu.entity import Exchange

        exchange = Exchange(message.exchange, type=message.exchange_type, durable=message.durable)
        with self._lock:
            try:
                producer = self._connection_now().Producer()
                producer.publish(
                    message.body,
                    exchange=exchange,
                    routing_key=message.routing_key,
                    declare=[exchange] if message.exchange else [],
                    retry=True,
                    retry_policy=RETRY_POLICY,
                    message_id=message.message_id,
                    content_type=message.content_type,
                    content_encoding="utf-8",
                    headers=dict(message.headers),
                    delivery_mode=2 if message.durable else 1,
                    timeout=message.timeout_s,
                )
            except Exception as exc:
                self._drop()
                raise translate_error(exc, self._where(message), self._secrets) from exc
            self._last_used = time.monotonic()
        confirmed = self.conn.confirm_publish if isinstance(self.conn, AmqpConnection) else True
        return Receipt(confirmed=confirmed)

    def _where(self, message: Outgoing) -> str:
        target = message.exchange or "(default exchange)"
        return f"publish to {self.transport} {self.name!r} {target} {message.routing_key!r}"

    def _connection_now(self) -> Any:
        """The open connection, built (or rebuilt when idle too long) under the lock."""
        if self._connection is not None and self._idle_too_long():
            self._drop()
        if self._connection is None:
            self._connection = self._new_connection()
            self.connects += 1
        return self._connection

    def _idle_too_long(self) -> bool:
        """Idle for half the heartbeat: the broker may be about to drop it (it does so after
        about one heartbeat timeout without traffic)."""
        heartbeat = self.conn.heartbeat if isinstance(self.conn, AmqpConnection) else 0
        return bool(heartbeat) and time.monotonic() - self._last_used > heartbeat / 2

    def _new_connection(self) -> Any:
        from kombu.connection import Connection

        conn = self.conn
        options: dict[str, Any] = dict(RETRY_POLICY)  # bounds kombu's own connect retries too
        if isinstance(conn, AmqpConnection):
            options["confirm_publish"] = conn.confirm_publish
            return Connection(
                conn.url.get_secret_value(),
                connect_timeout=conn.connect_timeout,
                heartbeat=conn.heartbeat,
                transport_options=options,
            )
        options["socket_timeout"] = conn.connect_timeout
        return Connection(
            conn.url.get_secret_value(),
            connect_timeout=conn.connect_timeout,
            transport_options=options,
        )

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # broken already: nothing more to release
                connection.release()

    def close(self) -> None:
        with self._lock:
            self._drop()


def translate_error(exc: BaseException, what: str, secrets: list[str]) -> ActionError:
    """The filerelay error for a kombu, py-amqp or redis exception raised while doing ``what``."""
    if isinstance(exc, ActionError):
        return exc
    detail = redact(f"{what}: {describe(exc)}", secrets)
    code = getattr(exc, "code", None)
    if _is_amqp_error(exc) and isinstance(code, int) and code in PERMANENT_AMQP_CODES:
        return PermanentError(detail)
    if _redis_auth_failure(exc):
        return PermanentError(detail)
    if _is_amqp_error(exc) or _is_kombu_error(exc) or isinstance(exc, OSError | TimeoutError):
        return RetryableError(detail)
    if _is_redis_error(exc):
        return RetryableError(detail)
    return PermanentError(detail)


def _is_amqp_error(exc: BaseException) -> bool:
    from amqp.exceptions import AMQPError

    return isinstance(exc, AMQPError)


def _is_kombu_error(exc: BaseException) -> bool:
    from kombu.exceptions import KombuError

    return isinstance(exc, KombuError)


def _is_redis_error(exc: BaseException) -> bool:
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return False
    return isinstance(exc, RedisError)


def _redis_auth_failure(exc: BaseException) -> bool:
    """A Redis login or ACL refusal, possibly wrapped by kombu."""
    try:
        from redis.exceptions import AuthenticationError, NoPermissionError
    except ImportError:
        return False
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, AuthenticationError | NoPermissionError):
            return True
        text = str(seen)
        if "WRONGPASS" in text or "NOAUTH" in text or "NOPERM" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
