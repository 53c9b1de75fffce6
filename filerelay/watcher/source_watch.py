"""One watched source on the watcher thread: its filter, detector, observer and rescans.

Raw observer events are applied here: a create/modify/close touches the detector (a modify
marks the file as being written, until its close-write), a delete
forgets, a move within the tree forgets the old path and touches the new one (so ``x.part``
renamed to ``x.csv`` yields only ``x.csv``), and a directory created or moved in is walked
at once, since files written before its watch was set produced no event.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import time
from collections.abc import Callable
from typing import Any

import structlog
from watchdog.observers.api import BaseObserver

from filerelay.errors import ConfigError
from filerelay.watcher.filters import PathFilter, download_target
from filerelay.watcher.hooks import WatcherHooks
from filerelay.watcher.mounts import ObserverKind, choose_observer
from filerelay.watcher.observers import (
    ObserverFactory,
    ObserverHooks,
    QueueHandler,
    RawEvent,
    log_inotify_limit,
    start_observer,
    stop_observer,
)
from filerelay.watcher.outbox import Outbox
from filerelay.watcher.rules import StabilityRules
from filerelay.watcher.scan import TreeWalk
from filerelay.watcher.stability import StabilityDetector
from filerelay.watcher.version import stat_version
from filerelay.watcher.writers import WriterCheck

log = structlog.get_logger()


class SourceWatch:
    """State of one source; every method runs on the watcher thread."""

    def __init__(
        self,
        source: Any,
        events: queue.SimpleQueue[RawEvent],
        *,
        clock: Callable[[], float],
        writer_check: WriterCheck | None = None,
        hooks: WatcherHooks | None = None,
    ) -> None:
        self.source = source
        self.watcher_hooks = hooks if hooks is not None else WatcherHooks()
        self.name: str = source.name
        self.root = os.path.abspath(os.fspath(source.path))
        self.filter = PathFilter(source)
        self.clock = clock
        self.detector = StabilityDetector(
            StabilityRules.from_source(source),
            clock=clock,
            writers=writer_check,
            source=self.name,
            root=self.root,
        )
        self.observer: BaseObserver | None = None
        self.kind: ObserverKind | None = None
        self.handler = QueueHandler(self.name, events)
        self.hooks = ObserverHooks(
            on_overflow=lambda: events.put((self.name, "overflow", "", "")),
            on_watch_limit=lambda: events.put((self.name, "watch_limit", "", "")),
        )
        self.rescan_at = time.monotonic() + float(source.rescan_interval)
        self.rescan_requested = False
        self.dirs_to_scan: set[str] = set()

    # --- lifecycle ----------------------------------------------------------------------

    def prepare_root(self) -> None:
        """Create the root if ``create: true``; fail with a ConfigError if it is missing."""
        if self.source.create:
            os.makedirs(self.root, exist_ok=True)
        if not os.path.isdir(self.root):
            raise ConfigError(
                f"source {self.name!r}: {self.root} is not a directory"
                + ("" if self.source.create else " (set 'create: true' to create it)")
            )

    def start(self, factory: ObserverFactory) -> None:
        """Start the observer the settings and the mount call for."""
        kind = choose_observer(self.root, self.source.observer)
        self.observer, self.kind = start_observer(
            self.source, self.root, self.handler, kind=kind, hooks=self.hooks, factory=factory
        )
        self.detector.close_events = self.kind == "native"
        log.debug("watcher.source_started", source=self.name, root=self.root, observer=self.kind)

    def stop(self) -> None:
        if self.observer is not None:
            stop_observer(self.observer)
            self.observer = None

    def switch_to_polling(self, factory: ObserverFactory) -> None:
        """The inotify watch limit was hit below the root: poll this source instead."""
        if self.kind != "native":
            return
        log_inotify_limit(OSError(errno.ENOSPC, "inotify watch limit reached"), self.name)
        self.watcher_hooks.observer_error(self.name, "watch_limit")
        self.stop()
        self.observer, self.kind = start_observer(
            self.source, self.root, self.handler, kind="polling", hooks=self.hooks, factory=factory
        )
        self.detector.close_events = False
        self.rescan_requested = True

    # --- raw events ---------------------------------------------------------------------

    def relpath(self, path: str) -> str | None:
        """``path`` relative to the root, '/'-separated; None if outside the tree."""
        if not path.startswith(self.root + "/"):
            return None
        return path[len(self.root) + 1 :]

    def apply(self, kind: str, src: str, dest: str) -> None:
        """Apply one raw observer event."""
        if kind in ("touch", "modify", "close"):
            self._partial(src, present=True)
            self._touch(src, closed=kind == "close", modified=kind == "modify")
        elif kind == "delete":
            self._partial(src, present=False)
            self.detector.forget(src)
        elif kind == "move":
            self._partial(src, present=False)
            self.detector.forget(src)
            self._partial(dest, present=True)
            self._touch(dest)
        elif kind == "dir":
            self.dirs_to_scan.add(src)
        elif kind == "dirmove":
            self.detector.forget_tree(src)
            self.dirs_to_scan.add(dest)
        elif kind == "overflow":
            log.warning("watcher.queue_overflow", source=self.name, effect="rescanning now")
            self.watcher_hooks.observer_error(self.name, "queue_overflow")
            self.rescan_requested = True

    def _partial(self, path: str, *, present: bool) -> None:
        """Tell the detector about a partial download (``x.part``) of a file appearing or gone."""
        target = download_target(path)
        if target is None:
            return
        if present:
            self.detector.partial_seen(target)
        else:
            self.detector.partial_gone(target)

    def _touch(self, path: str, closed: bool = False, modified: bool = False) -> None:
        rel = self.relpath(path)
        if rel is None:
            return
        if self.filter(rel):
            self.detector.touch(path, closed, modified=modified)
        elif self.filter.is_marker(rel):
            self.detector.marker_appeared(path)

    # --- walks --------------------------------------------------------------------------

    def scan(
        self, outbox: Outbox, start: str | None = None, missing: set[str] | None = None
    ) -> TreeWalk:
        """Walk the tree (or below ``start``); touch every file not emitted in this version.

        Relative paths found are removed from ``missing`` when given (what is left: files
        seen before but not found).
        """
        walk = TreeWalk(self.root, self.filter, start=start, source=self.name)
        found = self.detector.found
        seen_index = outbox.seen_versions(self.name)
        seen = seen_index.get
        prefix = self.root + "/"
        now = self.clock()  # one reading for the walk: found files count as pending since then
        for reldir, names, stats in walk.batches():  # the hot loop: one pass per directory
            if missing or seen_index:
                relpaths = [reldir + name for name in names]
                if missing:
                    missing.difference_update(relpaths)
                if seen_index:  # files emitted in this very version are left out
                    new = [
                        i
                        for i, rel in enumerate(relpaths)
                        if (version := seen(rel)) is None or version != stat_version(stats[i])
                    ]
                    if len(new) < len(names):
                        names, stats = [names[i] for i in new], [stats[i] for i in new]
            if names:
                found(prefix + reldir, names, stats, now)
        for rel in walk.partials:
            self._partial(prefix + rel, present=True)
        return walk

    def full_rescan(
        self, outbox: Outbox, now: Callable[[], float], reason: str = "startup"
    ) -> None:
        """Reload the seen index, walk everything, prune seen rows of files gone."""
        started = time.monotonic()
        walk_started_at = now()
        adopted = outbox.adopt_legacy(self.name, self.root)
        if adopted:
            log.info(
                "watcher.seen_upgraded",
                source=self.name,
                files=adopted,
                effect="files emitted by an older watcher keep their version; not emitted again",
            )
        outbox.load_seen(self.name)
        pending_before = len(self.detector)
        # the seen files a complete walk does not find are forgotten: a set of the index's own
        # keys, not a set of every path found (nothing at all at a first start)
        missing = set(outbox.seen_versions(self.name))
        walk = self.scan(outbox, missing=missing)
        pruned = outbox.prune_missing(self.name, missing, walk_started_at) if walk.complete else 0
        # INFO only when the walk found work: a periodic rescan that finds nothing is quiet
        log.log(
            logging.INFO
            if len(self.detector) > pending_before or walk.skipped_dirs
            else logging.DEBUG,
            "watcher.rescan",
            source=self.name,
            files=walk.files,
            dirs=walk.dirs,
            skipped_dirs=walk.skipped_dirs,
            newly_pending=len(self.detector) - pending_before,
            seen_pruned=pruned,
            duration_s=round(time.monotonic() - started, 3),
        )
        self.watcher_hooks.rescanned(self.name, reason)
        if walk.skipped_dirs:
            self.watcher_hooks.observer_error(self.name, "dir_unreadable", walk.skipped_dirs)

    def run_scans(self, outbox: Outbox, now: Callable[[], float]) -> None:
        """Walk new directories, and the whole tree when due or requested."""
        if self.rescan_requested or time.monotonic() >= self.rescan_at:
            reason = "requested" if self.rescan_requested else "periodic"
            self.rescan_requested = False
            self.dirs_to_scan.clear()
            self.rescan_at = time.monotonic() + float(self.source.rescan_interval)
            self.full_rescan(outbox, now, reason)
            return
        while self.dirs_to_scan:
            directory = self.dirs_to_scan.pop()
            walk = self.scan(outbox, start=directory)
            log.debug(
                "watcher.dir_scanned",
                source=self.name,
                relpath=self.relpath(directory) or ".",
                files=walk.files,
            )
