"""The embedded broker: kombu's filesystem transport, answering a stop at once.

Two changes to kombu's transport:

- Celery's worker drives a polling transport with a blocking loop that waits up to 2 s for a
  message, and once more after the stop was asked for (``celery.worker.loops.synloop``), so
  an idle worker took 4 s or more to notice SIGTERM. Each wait here ends after
  :data:`WAIT_S` (it still polls every ``polling_interval``).
- kombu polls the queue folder at one fixed interval (``polling_interval``, 50 ms here), so
  each message a busy worker takes waited up to that long after its pool process freed up:
  ~0.9 s of idle per worker process in a 1,000-file burst (measured against Redis). Here a
  worker polls every :data:`BUSY_POLL_S` for :data:`BUSY_FOR_S` after its last message, and
  at ``polling_interval`` at rest.
- kombu writes a message file in place, so a worker polling at that instant reads it empty
  and dies on the JSON error (the message lost with it). Here a message is written under a
  name no reader picks, then renamed into place (atomic on one file system).
"""

from __future__ import annotations

import os
import time
import uuid
from queue import Empty
from time import monotonic, sleep
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.filesystem import Channel as FilesystemChannel
from kombu.transport.filesystem import Transport as FilesystemTransport
from kombu.utils.json import dumps

#: The longest a worker's wait for a message lasts before it looks at its stop flag again.
WAIT_S = 0.2
#: How often a worker polls while messages came lately, and for how long after the last one.
BUSY_POLL_S = 0.005
BUSY_FOR_S = 1.0

SCHEME = "filerelay-fs"


class Channel(FilesystemChannel):
    """kombu's filesystem channel, writing each message file atomically."""

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        final = os.path.join(self.data_folder_out, _message_name(queue))
        partial = f"{final}.part"  # not "<queue>.msg": no reader takes it
        try:
            with open(partial, "wb") as f:
                f.write(dumps(payload).encode())
            os.rename(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


def _message_name(queue: str) -> str:
    """kombu's name of a message file: sortable by time, then ``.<queue>.msg``."""
    return f"{time.monotonic_ns() // 1_000_000}_{uuid.uuid4()}.{queue}.msg"


class Transport(FilesystemTransport):
    """kombu's filesystem transport with short waits and atomic writes."""

    Channel = Channel

    _last_message = 0.0

    def drain_events(self, connection: Any, timeout: Any = None) -> None:  # type: ignore[override]
        """Deliver one message, polling as the module docstring says; ``TimeoutError`` after
        ``timeout`` (at most :data:`WAIT_S`; None: wait on) without one."""
        if timeout is not None:
            timeout = min(timeout, WAIT_S)
        started = monotonic()
        cycle = self.cycle
        if cycle is None:  # no channel consumes yet: as kombu, nothing to wait for
            raise TimeoutError
        while True:
            try:
                cycle.get(self._deliver, timeout=timeout)
            except Empty:
                now = monotonic()
                busy = now - self._last_message < BUSY_FOR_S
                pause = BUSY_POLL_S if busy else self.polling_interval or BUSY_POLL_S
                if timeout is not None:
                    left = timeout - (now - started)
                    if left <= 1e-6:  # (a float sum of pauses lands a hair short)
                        raise TimeoutError from None
                    pause = min(pause, left)
                sleep(pause)
            else:
                self._last_message = monotonic()
                return


def register() -> None:
    """Make ``filerelay-fs://`` name this transport (idempotent)."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
