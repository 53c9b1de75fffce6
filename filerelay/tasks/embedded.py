"""The embedded broker: kombu's filesystem transport, answering a stop at once.

Two changes to kombu's transport:

- Celery's worker drives a polling transport with a blocking loop that waits up to 2 s for a
  message, and once more after the stop was asked for (``celery.worker.loops.synloop``), so
  an idle worker took 4 s or more to notice SIGTERM. Each wait here ends after
  :data:`WAIT_S` (it still polls every ``polling_interval``).
- kombu writes a message file in place, so a worker polling at that instant reads it empty
  and dies on the JSON error (the message lost with it). Here a message is written under a
  name no reader picks, then renamed into place (atomic on one file system).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.filesystem import Channel as FilesystemChannel
from kombu.transport.filesystem import Transport as FilesystemTransport
from kombu.utils.json import dumps

#: The longest a worker's wait for a message lasts before it looks at its stop flag again.
WAIT_S = 0.2

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

    def drain_events(self, connection: Any, timeout: Any = None) -> Any:  # type: ignore[override]
        if timeout is not None:
            timeout = min(timeout, WAIT_S)
        return super().drain_events(connection, timeout=timeout)  # type: ignore[no-untyped-call]


def register() -> None:
    """Make ``filerelay-fs://`` name this transport (idempotent)."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
