"""The watcher's log of emitted files: a ``watcher.file_stable`` DEBUG line per file, and a
``watcher.files_emitted`` INFO summary per window.

A file's INFO line is the worker's ``event_finished`` (its outcome); the watcher adds none of
its own, so a file costs one INFO line however the processes are run. (One INFO line per file
also cost 42% of the watcher's emit loop in a burst: 100,000 files at start-up wrote 100,000
lines.) In each ``interval_s`` window the first ``per_file_info`` files (default none) get
their ``watcher.file_stable`` line at INFO; the rest get it at DEBUG (built only when DEBUG is
on), and a ``watcher.files_emitted`` INFO line at the end of the window counts every file
emitted in it, per source. A window whose files all had their own INFO line needs no summary.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

import structlog

from filerelay.model import FileEvent

log = structlog.get_logger("filerelay.watcher.service")
_stdlib = logging.getLogger("filerelay.watcher.service")

INTERVAL_S = 10.0
PER_FILE_INFO = 0


class EmitLog:
    """Logs emitted files; call :meth:`tick` from the watcher loop and :meth:`flush` at stop."""

    def __init__(
        self,
        *,
        interval_s: float = INTERVAL_S,
        per_file_info: int = PER_FILE_INFO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.per_file_info = per_file_info
        self._clock = clock
        self._window_start = clock()
        self._counts: Counter[str] = Counter()
        self._info_lines = 0

    def emitted(self, events: Sequence[tuple[FileEvent, float]]) -> None:
        """Files just written to the outbox: ``(event, pending_s)`` each."""
        room = max(0, self.per_file_info - self._info_lines)
        for event, pending_s in events[:room]:
            log.info("watcher.file_stable", **_fields(event, pending_s))
        self._info_lines += min(room, len(events))
        if len(events) > room and _stdlib.isEnabledFor(logging.DEBUG):
            for event, pending_s in events[room:]:
                log.debug("watcher.file_stable", **_fields(event, pending_s))
        for event, _pending_s in events:
            self._counts[event.source] += 1

    def tick(self) -> None:
        """End the window if it is over (logging its summary when one is due)."""
        now = self._clock()
        if now - self._window_start >= self.interval_s:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Log the summary of the current window if some files had no INFO line; start anew."""
        now = self._clock() if now is None else now
        files = sum(self._counts.values())
        if files > self._info_lines:
            log.info(
                "watcher.files_emitted",
                files=files,
                sources=dict(self._counts),
                lines_at_info=self._info_lines,
                interval_s=round(now - self._window_start, 1),
            )
        self._window_start = now
        self._counts.clear()
        self._info_lines = 0


def _fields(event: FileEvent, pending_s: float) -> dict[str, object]:
    return {
        "source": event.source,
        "relpath": event.relpath,
        "event_id": event.event_id,
        "size": event.size,
        "signal": event.stable_signal.value,
        "pending_s": round(pending_s, 3),
    }
