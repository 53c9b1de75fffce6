"""Keeping each agent's recent warnings, errors and pipeline outcome lines in the store
(``log_records``, capped), for the API's ``logs`` and the console's log tail.

A logging handler on the root logger copies the records that matter into a bounded buffer;
a daemon thread of the same process writes the buffer to the store every
:data:`FLUSH_EVERY_S` seconds — never on the logging call's path, and a store outage only
drops what the buffer cannot hold. A forked child (a prefork worker process) notices it is
not the process that installed the handler and starts its own thread and connection. The
JSON or console log lines to stderr are unchanged.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from filerelay.settings import Settings

FLUSH_EVERY_S = 2.0
BUFFER = 2000
#: info lines kept besides warnings and errors: each pipeline's outcome
OUTCOME_EVENTS = frozenset({"event_finished", "step_retry", "step_lease_lost"})
_SKIPPED_KEYS = frozenset({"event", "level", "logger", "timestamp", "_record", "_from_structlog"})


class StoreLogSink(logging.Handler):
    """Buffers the records worth keeping and writes them to the store from a thread."""

    def __init__(self, settings: Settings, agent: str, flush_s: float = FLUSH_EVERY_S) -> None:
        super().__init__(level=logging.INFO)
        self.flush_s = flush_s
        self.settings = settings
        self.agent = agent
        self._buffer: deque[dict[str, Any]] = deque(maxlen=BUFFER)
        self._pid = -1
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event, fields = _event_of(record)
            if record.levelno < logging.WARNING and event not in OUTCOME_EVENTS:
                return
            agent = self.agent if os.getpid() == self._pid or self._pid == -1 else None
            self._buffer.append(
                {
                    "at": datetime.fromtimestamp(record.created, UTC),
                    "agent": (agent or f"{self.agent}/{os.getpid()}")[:255],
                    "level": record.levelname.lower()[:16],
                    "event": str(event)[:128],
                    "fields": fields,
                }
            )
            self._ensure_thread()
        except Exception:  # logging must never fail the caller
            self.handleError(record)

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            if self._pid != -1:  # a forked child: its own agent name
                self.agent = f"{self.agent}/{os.getpid()}"
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="log-sink", daemon=True).start()

    def _run(self) -> None:
        from filerelay.agents import LazyStore
        from filerelay.store.admin import ControlStore

        lazy = LazyStore(self.settings)
        stop = threading.Event()
        while not stop.wait(self.flush_s):
            rows = [self._buffer.popleft() for _ in range(len(self._buffer))]
            if not rows:
                continue
            try:
                ControlStore(lazy.get().engine).add_logs(rows, self.settings.log_records_keep)
            except Exception:  # the store is down: these records are lost, stderr has them
                continue


def _event_of(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    msg = record.msg
    if isinstance(msg, dict):
        fields = {k: _plain(v) for k, v in msg.items() if k not in _SKIPPED_KEYS}
        return str(msg.get("event", "")), fields
    return record.getMessage()[:128], {"logger": record.name}


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) else value[:2000]
    return str(value)[:2000]


def install(settings: Settings, agent: str) -> StoreLogSink:
    """Add the sink for ``agent`` to the root logger (once per process)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, StoreLogSink):
            return handler
    sink = StoreLogSink(settings, agent)
    root.addHandler(sink)
    return sink
