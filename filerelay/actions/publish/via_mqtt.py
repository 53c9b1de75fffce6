"""MQTT publishing through paho-mqtt 2 (extra ``mqtt``), protocol MQTT 5.

The message id travels as the user property ``message-id`` (and as the CloudEvent's ``id``
inside the body); the content type as the MQTT 5 Content Type property, as the CloudEvents
MQTT binding's structured mode has it.

One client per connection name and worker process, kept connected by paho's network thread
(``loop_start``) and shared by every thread (paho's ``publish`` is thread-safe); it does not
reconnect by itself: after a disconnect or an error it is discarded and the next publish
connects a new one. The client id is ``<client_id or "filerelay">-<host>-<pid>-<random>``:
several worker processes publish at once, and a broker disconnects the older of two clients
with the same id.

::

    error                                                  filerelay error
    ────────────────────────────────────────────────────   ──────────────────────
    connection refused, no CONNACK/PUBACK in time,
      disconnected, PUBACK reason ≥ 0x80 other than below   RetryableError
    CONNACK: bad user name or password, not authorized,
      client id rejected; PUBACK: not authorized,
      topic name invalid, payload format invalid             PermanentError
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from typing import Any

from filerelay.actions.publish.common import Outgoing, Receipt, connection_secrets, describe
from filerelay.config.models import MqttConnection
from filerelay.errors import PermanentError, RetryableError
from filerelay.redaction import redact

PERMANENT_REASONS = frozenset({0x85, 0x86, 0x87, 0x8C, 0x90, 0x99})
MISSING_EXTRA = "publishing to MQTT needs paho-mqtt: pip install 'filerelay[mqtt]'"


class _Session:
    """One connected paho client with what its callbacks reported."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.connected = threading.Event()
        self.connack: Any = None
        self.failed_acks: dict[int, Any] = {}


class MqttPublisher:
    """A pooled MQTT 5 client of one broker."""

    transport = "mqtt"

    def __init__(self, name: str, conn: MqttConnection) -> None:
        self.name = name
        self.conn = conn
        self.connects = 0
        self._lock = threading.Lock()
        self._session: _Session | None = None
        self._secrets = connection_secrets(conn)
        prefix = conn.client_id or "filerelay"
        self.client_id = f"{prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def publish(self, message: Outgoing) -> Receipt:
        """Publish with the message's QoS; for QoS 1 and 2, wait for the broker's ack."""
        where = f"publish to mqtt {self.name!r} topic {message.routing_key!r}"
        session = self._session_now(where)
        info = session.client.publish(
            message.routing_key, message.body, qos=message.qos, properties=_properties(message)
        )
        if message.qos == 0:
            self._check_queued(session, info, where)
            return Receipt(confirmed=False)
        try:
            info.wait_for_publish(message.timeout_s)
        except (RuntimeError, ValueError) as exc:
            self._discard(session)
            raise RetryableError(self._redact(f"{where}: {describe(exc)}")) from exc
        if not info.is_published():
            self._discard(session)
            raise RetryableError(f"{where}: no acknowledgement within {message.timeout_s:g}s")
        reason = session.failed_acks.pop(info.mid, None)
        if reason is not None:
            error = PermanentError if reason.value in PERMANENT_REASONS else RetryableError
            raise error(f"{where}: the broker refused it: {reason}")
        return Receipt(confirmed=True)

    def _check_queued(self, session: _Session, info: Any, where: str) -> None:
        import paho.mqtt.client as mqtt

        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._discard(session)
            raise RetryableError(f"{where}: {mqtt.error_string(info.rc)}")

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    # --- the connection ---------------------------------------------------------------

    def _session_now(self, where: str) -> _Session:
        with self._lock:
            session = self._session
            if session is not None and session.client.is_connected():
                return session
            if session is not None:
                self._discard(session)
            self._session = self._connect(where)
            self.connects += 1
            return self._session

    def _connect(self, where: str) -> _Session:
        session = _Session(self._new_client())
        _wire_callbacks(session)
        conn = self.conn
        try:
            session.client.connect(conn.host, conn.port, keepalive=max(1, int(conn.keepalive)))
        except (OSError, ValueError) as exc:
            raise RetryableError(self._redact(f"{where}: cannot connect: {describe(exc)}")) from exc
        session.client.loop_start()
        if not session.connected.wait(conn.connect_timeout) or session.connack is None:
            self._stop(session)
            raise RetryableError(f"{where}: no CONNACK within {conn.connect_timeout:g}s")
        if session.connack.is_failure:
            self._stop(session)
            error = PermanentError if session.connack.value in PERMANENT_REASONS else RetryableError
            raise error(f"{where}: the broker refused the connection: {session.connack}")
        return session

    def _new_client(self) -> Any:
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError:
            raise PermanentError(MISSING_EXTRA) from None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
        )
        client.connect_timeout = self.conn.connect_timeout
        if self.conn.username is not None:
            password = self.conn.password.get_secret_value() if self.conn.password else None
            client.username_pw_set(self.conn.username, password)
        if self.conn.tls:
            client.tls_set()
        return client

    def _discard(self, session: _Session | None) -> None:
        if session is not None:
            if self._session is session:
                self._session = None
            self._stop(session)

    @staticmethod
    def _stop(session: _Session) -> None:
        with contextlib.suppress(Exception):  # already gone
            session.client.disconnect()
        session.client.loop_stop()

    def close(self) -> None:
        with self._lock:
            self._discard(self._session)


def _wire_callbacks(session: _Session) -> None:
    """Record CONNACK and failed PUBACKs (paho calls these on its network thread)."""

    def on_connect(_client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        session.connack = reason
        session.connected.set()

    def on_publish(_client: Any, _userdata: Any, mid: int, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            session.failed_acks[mid] = reason

    session.client.on_connect = on_connect
    session.client.on_publish = on_publish


def _properties(message: Outgoing) -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = message.content_type
    props.UserProperty = [("message-id", message.message_id), *message.headers.items()]
    return props
