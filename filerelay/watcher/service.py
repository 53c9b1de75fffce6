"""The watcher service: observers -> detector -> outbox -> publisher, for every source.

Threads: watchdog's (observers; they only enqueue), the watcher thread (the caller of
:meth:`Watcher.run`: drains events, walks, polls the detectors, hashes, writes the outbox)
and the publisher thread (outbox -> ``publish``). Start-up order: observers first, then the
reconcile walk of every source, so a file written during the walk is seen by one or the
other; :attr:`Watcher.ready` is set after that.
"""

from __future__ import annotations

import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog

from filerelay.errors import ConfigError
from filerelay.model import FileEvent
from filerelay.watcher.emitlog import EmitLog
from filerelay.watcher.events import FileChanged, build_event
from filerelay.watcher.hooks import WatcherHookList
from filerelay.watcher.observers import ObserverFactory, RawEvent, default_observer_factory
from filerelay.watcher.outbox import Outbox
from filerelay.watcher.publisher import Publisher, PublishFn
from filerelay.watcher.rules import StableFile
from filerelay.watcher.source_watch import SourceWatch
from filerelay.watcher.version import stat_version
from filerelay.watcher.writers import ProcWriters, WriterCheck

log = structlog.get_logger()

MAX_EVENTS_PER_TICK = 50_000
# a tick's stable files are built into events and written to the outbox at once: a smaller
# batch keeps the watcher's memory flat in a burst (100,000 files found at start-up)
MAX_STABLE_PER_TICK = 1_000
MIN_SLEEP_S = 0.002  # between loop rounds while a check is already due
REQUEUE_DELAY_S = 1.0


class Watcher:
    """Watches the sources and publishes a :class:`FileEvent` for every stable file, once."""

    def __init__(
        self,
        sources: Sequence[Any],
        state_dir: Path,
        publish: PublishFn,
        *,
        host: str | None = None,
        clock: Callable[[], float] = time.time,
        tick_s: float = 0.05,
        observer_factory: ObserverFactory | None = None,
        writer_check: WriterCheck | None = None,
        outbox_max_rows: int = 1_000_000,
        publish_batch: int = 500,
        flush_timeout_s: float = 3.0,
        held: Callable[[], frozenset[str]] | None = None,
        hooks: WatcherHookList | None = None,
        linger: Callable[[int], float] | None = None,
    ) -> None:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate source names: {names}")
        self.state_dir = Path(state_dir)
        self.host = host if host is not None else socket.gethostname()
        self.tick_s = tick_s
        self.ready = threading.Event()
        self._publish = publish
        self._clock = clock
        self._factory: ObserverFactory = observer_factory or default_observer_factory
        self._outbox_max_rows = outbox_max_rows
        self._publish_batch = publish_batch
        self._flush_timeout_s = flush_timeout_s
        self._held = held
        self._linger = linger  # see Publisher: waiting for a fuller batch while workers are busy
        self.hooks = hooks if hooks is not None else WatcherHookList()
        self._events: queue.SimpleQueue[RawEvent] = queue.SimpleQueue()
        self.writer_check: WriterCheck = writer_check or ProcWriters()
        self.sources = {
            s.name: SourceWatch(
                s, self._events, clock=clock, writer_check=self.writer_check, hooks=self.hooks
            )
            for s in sources
        }
        self.outbox: Outbox | None = None
        self.publisher: Publisher | None = None
        self.emit_log = EmitLog()

    # --- lifecycle ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set, then stop observers, flush the outbox and close it."""
        self.outbox = Outbox(self.state_dir, max_rows=self._outbox_max_rows, clock=self._clock)
        self.publisher = Publisher(
            self.outbox,
            self._publish,
            batch_size=self._publish_batch,
            flush_timeout_s=self._flush_timeout_s,
            held=self._held,
            hooks=self.hooks,
            linger=self._linger,
        )
        self.publisher.start()
        self.hooks.watcher_started(self)
        try:
            self._start_sources()
            self.ready.set()
            log.debug("watcher.ready", sources=list(self.sources), outbox_depth=self.outbox.depth())
            while not stop.is_set():
                busy = self._tick()
                self.emit_log.tick()
                if not busy:
                    stop.wait(self._idle_s())
        finally:
            self._shutdown()

    def _start_sources(self) -> None:
        assert self.outbox is not None
        for sw in self.sources.values():
            sw.prepare_root()
            sw.start(self._factory)
        self._say_writer_check()
        for sw in self.sources.values():
            sw.full_rescan(self.outbox, self._clock)

    def _say_writer_check(self) -> None:
        """One line at start-up when the open-for-writing check cannot see every process, with
        what that means for the sources that rely on it."""
        relying = [
            sw for sw in self.sources.values()
            if sw.source.stable_when == "close" and not sw.source.ready_marker
        ]  # fmt: skip
        blind = self.writer_check.blind_spot() if relying else None
        if blind is None:
            return
        polling = [sw.name for sw in relying if sw.kind != "native"]
        effect = (
            "a file seen being written is taken only after its writer's close-write "
            "(which inotify reports for any user), or after open_timeout of quiet"
        )
        if polling:
            effect += f"; polling sources {polling} see no close: they wait open_timeout"
        log.warning(
            "watcher.writer_check_partial",
            blind=blind,
            sources=[sw.name for sw in relying],
            effect=effect,
            fix="run the watcher as root to see every writer, or have writers drop a ready_marker",
        )

    def _shutdown(self) -> None:
        for sw in self.sources.values():
            sw.stop()
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher.join(self._flush_timeout_s + 2.0)
            if self.publisher.is_alive():
                log.error(
                    "watcher.publisher_stuck", effect="rows stay in the outbox for next start"
                )
        if self.outbox is not None:
            self.outbox.close()
        self.emit_log.flush()
        log.info("watcher.stopped")

    # --- the loop -----------------------------------------------------------------------

    def _tick(self) -> bool:
        """One round; True if there is more work right away (no sleep)."""
        assert self.outbox is not None
        busy = self._drain_events()
        for sw in self.sources.values():
            sw.run_scans(self.outbox, self._clock)
            stable = sw.detector.poll(limit=MAX_STABLE_PER_TICK)
            if stable:
                self.hooks.files_stable(sw.name, len(stable))
                self._emit(sw, stable)
                busy = busy or len(stable) >= MAX_STABLE_PER_TICK
        return busy

    def _idle_s(self) -> float:
        """How long to sleep: until the earliest stability check falls due, at most a tick
        (a file becomes stable on time, not up to a tick after its silence window: the
        latency benchmark's median detection lag went from 29 to a few ms)."""
        dues = [d for sw in self.sources.values() if (d := sw.detector.next_due()) is not None]
        if not dues:
            return self.tick_s
        return min(self.tick_s, max(MIN_SLEEP_S, min(dues) - self._clock()))

    def _drain_events(self) -> bool:
        """Apply queued observer events; True if the per-tick cap was reached."""
        for _ in range(MAX_EVENTS_PER_TICK):
            try:
                name, kind, src, dest = self._events.get_nowait()
            except queue.Empty:
                return False
            sw = self.sources.get(name)
            if sw is None:
                continue
            if kind == "watch_limit":
                sw.switch_to_polling(self._factory)
            else:
                sw.apply(kind, src, dest)
        return True

    def _emit(self, sw: SourceWatch, stable: list[StableFile]) -> None:
        """Build events for stable files not emitted yet; write them in one transaction."""
        assert self.outbox is not None and self.publisher is not None
        now = self._clock()
        batch: list[tuple[StableFile, FileEvent]] = []
        for sf in stable:
            event = self._event_for(sw, sf, now)
            if event is not None:
                batch.append((sf, event))
        if not batch:
            return
        try:
            taken = self.outbox.emit([event for _sf, event in batch])
        except sqlite3.Error as exc:
            log.error(
                "watcher.outbox_write_failed", source=sw.name, files=len(batch), error=str(exc)
            )
            self.hooks.observer_error(sw.name, "outbox_write_failed")
            taken = 0
        self.hooks.events_emitted(sw.name, [event for _sf, event in batch[:taken]])
        self.emit_log.emitted([(event, now - sf.pending_since) for sf, event in batch[:taken]])
        for sf, _event in batch[taken:]:
            sw.detector.requeue(sf, REQUEUE_DELAY_S)
        if taken:
            self.publisher.wake()

    def _event_for(self, sw: SourceWatch, sf: StableFile, now: float) -> FileEvent | None:
        """The event of one stable file; None if already emitted or changed while hashing."""
        assert self.outbox is not None
        relpath = sw.relpath(sf.path)
        if relpath is None:
            return None
        if self.outbox.is_seen(sw.name, relpath, stat_version(sf.stat)):
            log.debug("watcher.already_emitted", source=sw.name, relpath=relpath)
            return None
        try:
            return build_event(sw.source, sf, relpath, host=self.host, now=now)
        except FileChanged as exc:
            log.info("watcher.changed_while_hashing", source=sw.name, relpath=relpath, why=str(exc))
            sw.detector.touch(sf.path)
            return None
