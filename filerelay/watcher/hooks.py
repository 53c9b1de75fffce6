"""Hooks of the watcher: cross-cutting observers (metrics) of what the watcher does.

The watcher, its sources and its publisher call a :class:`WatcherHookList`; each hook's
methods are no-ops by default. A hook that raises is logged loudly and skipped: it never
breaks an emit or a publish. Hooks run on the watcher's and publisher's threads: keep them
cheap (a counter increment).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filerelay.hooklist import call_each
from filerelay.model import FileEvent


class WatcherHooks:
    """One observer of the watcher; override what you need."""

    def watcher_started(self, watcher: Any) -> None:
        """A :class:`~filerelay.watcher.service.Watcher` started (a reload starts a new one)."""

    def files_stable(self, source: str, count: int) -> None:
        """The detector declared ``count`` files of ``source`` completely written."""

    def events_emitted(self, source: str, events: Sequence[FileEvent]) -> None:
        """Events were written to the outbox (once per file version)."""

    def publish_refused(self, events: Sequence[FileEvent]) -> None:
        """A publish failed (broker down) or was held back (back pressure): the events stay
        in the outbox and are tried again."""

    def rescanned(self, source: str, reason: str) -> None:
        """A full walk of the source ran (``reason``: startup, periodic, requested)."""

    def observer_error(self, source: str, kind: str, count: int = 1) -> None:
        """Something went wrong watching ``source`` (``kind``: queue_overflow, watch_limit,
        dir_unreadable, outbox_write_failed), ``count`` times."""


class WatcherHookList(WatcherHooks):
    """The ordered hooks of a watcher; each call reaches every hook, failures are logged."""

    def __init__(self, hooks: Sequence[WatcherHooks] = ()) -> None:
        self.hooks = list(hooks)

    def watcher_started(self, watcher: Any) -> None:
        self._each("watcher_started", watcher)

    def files_stable(self, source: str, count: int) -> None:
        self._each("files_stable", source, count)

    def events_emitted(self, source: str, events: Sequence[FileEvent]) -> None:
        self._each("events_emitted", source, events)

    def publish_refused(self, events: Sequence[FileEvent]) -> None:
        self._each("publish_refused", events)

    def rescanned(self, source: str, reason: str) -> None:
        self._each("rescanned", source, reason)

    def observer_error(self, source: str, kind: str, count: int = 1) -> None:
        self._each("observer_error", source, kind, count)

    def _each(self, name: str, *args: Any) -> None:
        call_each(self.hooks, name, *args)
