"""NATS publishing through nats-py (extra ``nats``): core NATS, or JetStream with its ack.

The header ``Nats-Msg-Id`` carries the message id, so JetStream drops a retry's duplicate
within the stream's duplicate window (default two minutes).

nats-py is asyncio-only and a client belongs to the event loop that made it. Each publisher
runs one event loop in a daemon thread, started on first use (so after a prefork worker's
fork), and the synchronous ``publish`` hands coroutines to it with
``run_coroutine_threadsafe``: one NATS connection per connection name and worker process is
kept open and shared by every thread. (``asyncio.run`` per call would have meant a new
connection per message.) The client does not reconnect by itself; after an error it is
closed and the next publish connects a new one.

::

    error                                                   filerelay error
    ─────────────────────────────────────────────────────   ──────────────────────
    no server reachable, connection closed or stale,
      timeout, JetStream 503                                  RetryableError
    authorization violation, no stream for the subject,
      no responders, bad subject, payload too large,
      other JetStream API errors                              PermanentError
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from typing import Any

import structlog

from filerelay.actions.publish.common import Outgoing, Receipt, connection_secrets, describe
from filerelay.config.models import NatsConnection
from filerelay.errors import ActionError, PermanentError, RetryableError
from filerelay.redaction import redact

log = structlog.get_logger("filerelay.actions.nats")
CLOSE_TIMEOUT_S = 5.0
MISSING_EXTRA = "publishing to NATS needs nats-py: pip install 'filerelay[nats]'"


class NatsPublisher:
    """A pooled NATS connection driven by its own event-loop thread."""

    transport = "nats"

    def __init__(self, name: str, conn: NatsConnection) -> None:
        self.name = name
        self.conn = conn
        self.connects = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Any = None  # only touched on the loop thread
        self._connecting: asyncio.Lock | None = None
        self._secrets = connection_secrets(conn)

    def publish(self, message: Outgoing) -> Receipt:
        """Publish; core NATS flushes to the server, JetStream waits for the stream's ack."""
        where = f"publish to nats {self.name!r} subject {message.routing_key!r}"
        budget_s = message.timeout_s + self.conn.connect_timeout * 2 + 1
        future = asyncio.run_coroutine_threadsafe(self._publish(message), self._loop_now())
        try:
            return future.result(budget_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RetryableError(f"{where}: no answer within {budget_s:g}s") from None
        except Exception as exc:
            raise translate_error(exc, where, self._secrets) from exc

    async def _publish(self, message: Outgoing) -> Receipt:
        nc = await self._client()
        headers = {
            **message.headers,
            "Nats-Msg-Id": message.message_id,
            "Content-Type": message.content_type,
        }
        try:
            if message.jetstream:
                ack = await nc.jetstream().publish(
                    message.routing_key, message.body, timeout=message.timeout_s, headers=headers
                )
                details = {
                    "stream": ack.stream,
                    "sequence": ack.seq,
                    "duplicate": bool(ack.duplicate),
                }
                return Receipt(confirmed=True, details=details)
            await nc.publish(message.routing_key, message.body, headers=headers)
            await nc.flush(timeout=message.timeout_s)
            return Receipt(confirmed=False)
        except Exception as exc:
            if _breaks_connection(exc):
                await self._close_client()
            raise

    async def _client(self) -> Any:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._nc is not None and self._nc.is_connected:
                return self._nc
            await self._close_client()
            self._nc = await self._connect()
            self.connects += 1
            return self._nc

    async def _connect(self) -> Any:
        try:
            import nats
        except ImportError:
            raise PermanentError(MISSING_EXTRA) from None
        conn = self.conn
        return await nats.connect(
            servers=list(conn.servers),
            user=conn.user,
            password=_secret(conn.password),
            token=_secret(conn.token),
            name="filerelay",
            connect_timeout=max(1, round(conn.connect_timeout)),
            allow_reconnect=False,
            # bounds the first connect: each server is tried twice, then NoServersError
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=self._on_error,
        )

    async def _on_error(self, exc: Exception) -> None:
        log.debug(
            "nats_client_error", connection=self.name, error=redact(describe(exc), self._secrets)
        )

    async def _close_client(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):  # closing a broken client is best effort
                await asyncio.wait_for(nc.close(), CLOSE_TIMEOUT_S)

    def _loop_now(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name=f"filerelay-nats-{self.name}", daemon=True
                )
                thread.start()
                # a client (or lock) from an earlier loop, e.g. inherited across a fork,
                # belongs to that loop and cannot be used from this one
                self._nc = self._connecting = None
                self._loop, self._thread = loop, thread
            return self._loop

    def close(self) -> None:
        """Close the connection, stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):  # the loop is going away regardless
            asyncio.run_coroutine_threadsafe(self._close_client(), loop).result(CLOSE_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CLOSE_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def _breaks_connection(exc: BaseException) -> bool:
    """Errors after which the client is not to be trusted (anything but a refusal)."""
    return _classify(exc) is RetryableError


def _classify(exc: BaseException) -> type[ActionError]:
    import nats.errors as ne
    import nats.js.errors as jse

    if isinstance(exc, jse.NoStreamResponseError | ne.NoRespondersError):
        return PermanentError
    if isinstance(exc, jse.APIError):
        return RetryableError if exc.code == 503 else PermanentError
    permanent = (ne.AuthorizationError, ne.BadSubjectError, ne.MaxPayloadError)
    if isinstance(exc, permanent):
        return PermanentError
    if isinstance(exc, ne.Error | OSError | asyncio.TimeoutError | TimeoutError):
        return RetryableError
    return PermanentError


def translate_error(exc: BaseException, what: str, secrets: list[str]) -> ActionError:
    """The filerelay error for a nats-py exception raised while doing ``what``."""
    if isinstance(exc, ActionError):
        return exc
    detail = describe(exc)
    if isinstance(exc, _no_stream_errors()):
        detail = "no JetStream stream captures this subject"
    return _classify(exc)(redact(f"{what}: {detail}", secrets))


def _no_stream_errors() -> tuple[type[BaseException], ...]:
    import nats.errors as ne
    import nats.js.errors as jse

    return (jse.NoStreamResponseError, ne.NoRespondersError)
