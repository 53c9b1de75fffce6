"""The watchdog adapter: one observer per source, feeding small tuples into a queue.

The handler runs on watchdog's dispatcher thread and does nothing but ``queue.put`` of a
``(source, kind, src_path, dest_path)`` tuple; all filtering, stat and bookkeeping happen on
the watcher's own thread, so the observer never blocks on I/O.

Two things watchdog 7 does not tell its caller are made visible here, by giving the inotify
observer its own :class:`InotifyFD` subclass (the narrowest hook: the class that reads the
kernel queue):

* **queue overflow** -- watchdog handles ``IN_Q_OVERFLOW`` internally (it rebuilds recursive
  watches in ``InotifyWatchGroup.on_queue_overflow``) but tells nobody that events were lost
  (gorakhargosh/watchdog#654); :meth:`_ReportingInotifyFD.handle_event` calls
  ``hooks.on_overflow`` after watchdog's own handling, and the watcher rescans at once;
* **watch limit on a subdirectory** -- watchdog swallows ``OSError`` for every watch but the
  root's (``InotifyWatchGroup._add_callback``), so a tree that outgrows
  ``fs.inotify.max_user_watches`` silently stops reporting; :meth:`add_callback` reports
  ``ENOSPC`` through ``hooks.on_watch_limit`` before re-raising, and the watcher switches the
  source to polling.
"""

from __future__ import annotations

import errno
import os
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyEmitter
from watchdog.observers.inotify_c import CallbackId, InotifyEvent, InotifyFD, Mask, WatchCallback
from watchdog.observers.polling import PollingObserver

from filerelay.watcher.mounts import ObserverKind

log = structlog.get_logger()

RawEvent = tuple[str, str, str, str]
"""``(source, kind, src_path, dest_path)``; kind is one of :data:`KINDS`."""

KINDS = ("touch", "modify", "close", "delete", "move", "dir", "dirmove", "overflow", "watch_limit")

EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,  # its inotify mask includes IN_ATTRIB anyway: attrib costs nothing more
    FileAttribEvent,  # utime()/touch: a new mtime is a new file version
    FileClosedEvent,  # close-write only
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]
"""The only event kinds subscribed: fewer kinds, less pressure on the kernel queue."""

_KIND_OF: dict[type[FileSystemEvent], str] = {
    FileCreatedEvent: "touch",
    FileModifiedEvent: "modify",  # data written: a close-write follows (inotify)
    FileAttribEvent: "touch",
    FileClosedEvent: "close",
    FileMovedEvent: "move",
    FileDeletedEvent: "delete",
    DirCreatedEvent: "dir",
    DirMovedEvent: "dirmove",
}

_SYSCTL = {
    errno.ENOSPC: "fs.inotify.max_user_watches",
    errno.EMFILE: "fs.inotify.max_user_instances",
}


@dataclass(frozen=True)
class ObserverHooks:
    """Callbacks an observer calls from its own threads; they must only enqueue."""

    on_overflow: Callable[[], None]
    on_watch_limit: Callable[[], None]


class ObserverFactory(Protocol):
    """Builds an unstarted observer of the given kind for a source (replaceable in tests)."""

    def __call__(self, kind: ObserverKind, source: Any, hooks: ObserverHooks) -> BaseObserver: ...


class QueueHandler(FileSystemEventHandler):
    """Turns watchdog events of one source into :data:`RawEvent` tuples on a queue."""

    def __init__(self, source: str, events: queue.SimpleQueue[RawEvent]) -> None:
        self.source = source
        self.events = events

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = _KIND_OF.get(type(event))
        if kind is not None:
            dest = os.fsdecode(event.dest_path) if event.dest_path else ""
            self.events.put((self.source, kind, os.fsdecode(event.src_path), dest))


class _ReportingInotifyFD(InotifyFD):
    """An :class:`InotifyFD` that reports queue overflows and watch-limit errors."""

    def __init__(self, hooks: ObserverHooks) -> None:
        super().__init__()
        self.hooks = hooks

    def handle_event(self, event: InotifyEvent) -> None:
        super().handle_event(event)  # watchdog first rebuilds its recursive watches
        if event.is_queue_overflow:
            self.hooks.on_overflow()

    def add_callback(
        self, path: bytes, mask: Mask, callback: WatchCallback, id_: CallbackId
    ) -> Any:
        try:
            return super().add_callback(path, mask, callback, id_)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self.hooks.on_watch_limit()
            raise


class ReportingInotifyObserver(BaseObserver):
    """``InotifyObserver`` with its own :class:`_ReportingInotifyFD` (see the module doc)."""

    def __init__(self, hooks: ObserverHooks, *, timeout: float = DEFAULT_OBSERVER_TIMEOUT) -> None:
        self.inotify_fd = _ReportingInotifyFD(hooks)
        self.inotify_fd.start()
        super().__init__(InotifyEmitter, timeout=timeout, inotify_fd=self.inotify_fd)

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self.inotify_fd.stop()
        if self.inotify_fd.is_alive():
            self.inotify_fd.join()


def default_observer_factory(kind: ObserverKind, source: Any, hooks: ObserverHooks) -> BaseObserver:
    """inotify (reporting overflows) for ``native``; watchdog's polling observer otherwise."""
    if kind == "native":
        return ReportingInotifyObserver(hooks)
    return PollingObserver(timeout=float(source.poll_interval))


def _sysctl_value(name: str) -> str:
    try:
        with open("/proc/sys/" + name.replace(".", "/"), encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


def log_inotify_limit(exc: OSError, source: str) -> None:
    """The error naming the sysctl to raise, with the command."""
    sysctl = _SYSCTL.get(exc.errno or 0, "fs.inotify.max_user_watches")
    current = _sysctl_value(sysctl)
    suggested = int(current) * 2 if current.isdigit() else 524288
    log.error(
        "observer.inotify_limit",
        source=source,
        error=str(exc),
        sysctl=sysctl,
        current=current,
        fix=f"sysctl -w {sysctl}={suggested} (persist it in /etc/sysctl.d/)",
        effect="falling back to the polling observer for this source",
    )


def stop_observer(observer: BaseObserver, timeout_s: float = 10.0) -> None:
    """Stop an observer (started or not) and wait for its threads."""
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout_s)
    except Exception as exc:  # stopping must not raise over the caller's cleanup
        log.warning("observer.stop_failed", error=repr(exc))


def _start(
    factory: ObserverFactory,
    kind: ObserverKind,
    source: Any,
    root: str,
    handler: QueueHandler,
    hooks: ObserverHooks,
) -> BaseObserver:
    observer = factory(kind, source, hooks)
    try:
        observer.start()
        observer.schedule(
            handler, root, recursive=bool(source.recursive), event_filter=EVENT_FILTER
        )
    except BaseException:
        stop_observer(observer)
        raise
    return observer


def start_observer(
    source: Any,
    root: str,
    handler: QueueHandler,
    *,
    kind: ObserverKind,
    hooks: ObserverHooks,
    factory: ObserverFactory = default_observer_factory,
) -> tuple[BaseObserver, ObserverKind]:
    """Start watching ``root``; a native observer hitting an inotify limit falls back to polling."""
    if kind == "native":
        try:
            return _start(factory, "native", source, root, handler, hooks), "native"
        except OSError as exc:
            if exc.errno not in _SYSCTL:
                raise
            log_inotify_limit(exc, source.name)
    observer = _start(factory, "polling", source, root, handler, hooks)
    return observer, "polling"
