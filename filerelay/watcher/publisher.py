"""The publisher thread: drains the outbox in id order into ``publish``, with backoff.

A batch is deleted from the outbox only after ``publish`` returned. Any exception counts as
"not delivered": the rows get ``attempts``/``last_error``, one warning is logged for the
attempt, and the same batch is tried again after an exponential backoff (capped), so order is
kept. The watcher thread is never blocked by a slow or failing broker; it only calls
:meth:`Publisher.wake` after writing rows.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import structlog

from filerelay.model import FileEvent
from filerelay.watcher.hooks import WatcherHooks
from filerelay.watcher.outbox import Outbox

log = structlog.get_logger()

PublishFn = Callable[[list[FileEvent]], None]
#: While lingering, how often ``linger`` is asked again whether to go on.
LINGER_POLL_S = 0.01


class Publisher(threading.Thread):
    """Publishes outbox rows until stopped, then makes one bounded final flush."""

    def __init__(
        self,
        outbox: Outbox,
        publish: PublishFn,
        *,
        batch_size: int = 500,
        first_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        flush_timeout_s: float = 3.0,
        idle_wait_s: float = 0.5,
        held: Callable[[], frozenset[str]] | None = None,
        hooks: WatcherHooks | None = None,
        linger: Callable[[int], float] | None = None,
    ) -> None:
        super().__init__(name="filerelay-publisher", daemon=True)
        self.outbox = outbox
        self.publish = publish
        self.batch_size = batch_size
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.flush_timeout_s = flush_timeout_s
        self.idle_wait_s = idle_wait_s
        self.held = held or frozenset  # sources paused by the operator: their rows wait
        self.hooks = hooks if hooks is not None else WatcherHooks()
        # given the rows waiting, how long to wait for more before publishing them (0: now)
        self.linger = linger
        self._lingered = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.failures = 0  # consecutive failed attempts
        self.published = 0  # events delivered by this thread

    def wake(self) -> None:
        """New rows are in the outbox."""
        self._wake.set()

    def stop(self) -> None:
        """Finish: make the final flush attempt and exit."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                outcome = self._step()
                if outcome is None:
                    self._wake.wait(self.idle_wait_s)
                elif not outcome:
                    self._stopping.wait(self._backoff_s())
            self._final_flush()
        except sqlite3.ProgrammingError:  # the outbox was closed under a stuck publish
            log.warning("publisher.outbox_closed", effect="unpublished rows wait for next start")

    def _step(self) -> bool | None:
        """One attempt; an unexpected error (outbox I/O) counts as a failed attempt."""
        try:
            return self._publish_once()
        except sqlite3.ProgrammingError:
            raise
        except Exception as exc:
            self.failures += 1
            log.error("publisher.error", error=repr(exc), attempt=self.failures)
            return False

    def _backoff_s(self) -> float:
        return float(min(self.max_backoff_s, self.first_backoff_s * 2 ** (self.failures - 1)))

    def _publish_once(self) -> bool | None:
        """Publish one batch: True delivered, False failed, None nothing to publish."""
        rows = self.outbox.peek(self.batch_size, self.held())
        if not rows:
            return None
        if self._linger_first(len(rows)):
            return True  # more rows came meanwhile: peek again
        ids = [row_id for row_id, _event in rows]
        try:
            self.publish([event for _row_id, event in rows])
        except Exception as exc:
            self.failures += 1
            self.outbox.note_failure(ids, repr(exc))
            self.hooks.publish_refused([event for _row_id, event in rows])
            log.warning(
                "publisher.publish_failed",
                events=len(ids),
                first_event_id=rows[0][1].event_id,
                attempt=self.failures,
                retry_in_s=round(self._backoff_s(), 2),
                outbox_depth=self.outbox.depth(),
                error=repr(exc),
            )
            return False
        self.outbox.ack(ids)
        self._lingered = False
        self.published += len(ids)
        if self.failures:
            log.info("publisher.recovered", after_failures=self.failures, events=len(ids))
            self.failures = 0
        log.debug("publisher.published", events=len(ids), outbox_depth=self.outbox.depth())
        return True

    def _linger_first(self, waiting: int) -> bool:
        """Wait once, as long as ``linger`` says, for more rows before publishing ``waiting``
        (never while stopping); whether it waited. ``linger`` is asked again every
        :data:`LINGER_POLL_S` with the rows waiting then, and the wait ends early once it says
        0 (the workers' queue drained: one of them is about to be idle; or a full batch is
        there): a fixed wait left workers idle while the rows piled up here."""
        if self.linger is None or self._lingered or self._stopping.is_set():
            return False
        wait_s = self.linger(waiting)
        if wait_s <= 0:
            return False
        self._lingered = True
        deadline = time.monotonic() + wait_s
        while not self._stopping.wait(min(LINGER_POLL_S, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or self.linger(self.outbox.depth()) <= 0:
                break
        return True

    def _final_flush(self) -> None:
        """Publish what is left, for at most ``flush_timeout_s``; the rest stays for next time."""
        deadline = time.monotonic() + self.flush_timeout_s
        while time.monotonic() < deadline:
            if self._step() is not True:
                break
        depth = self.outbox.depth()
        if depth:
            log.warning("publisher.rows_kept", outbox_depth=depth, effect="published at next start")
