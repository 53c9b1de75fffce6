"""Running a real Watcher in a thread for a test, and reading what it published."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filerelay.config.models import Source
from filerelay.model import FileEvent
from filerelay.watcher import Watcher
from tests.conftest import wait_for

DEADLINE_S = 30.0


def make_source(path: Path, name: str = "src", **settings: Any) -> Source:
    """A source with test-friendly timings (override any of them)."""
    values: dict[str, Any] = {"silence": 0.3, "poll_interval": 0.2, "rescan_interval": 3600}
    values.update(settings)
    return Source(name=name, path=path, **values)


class Published:
    """A publish callable that records every delivered event (thread-safe)."""

    def __init__(self) -> None:
        self.events: list[FileEvent] = []
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, events: list[FileEvent]) -> None:
        with self._lock:
            self.calls += 1
            self.events.extend(events)

    def relpaths(self) -> list[str]:
        with self._lock:
            return [e.relpath for e in self.events]

    def of(self, relpath: str) -> list[FileEvent]:
        with self._lock:
            return [e for e in self.events if e.relpath == relpath]

    def wait_for(self, *relpaths: str, timeout_s: float = DEADLINE_S) -> None:
        wait_for(
            lambda: set(relpaths) <= set(self.relpaths()),
            timeout_s,
            what=f"events for {relpaths}; got {self.relpaths()}",
        )


@contextmanager
def running(
    sources: list[Source],
    state_dir: Path,
    publish: Callable[[list[FileEvent]], None] | None = None,
    **kwargs: Any,
) -> Iterator[Watcher]:
    """Run a Watcher in a thread until the block ends; fail if it crashed."""
    watcher = Watcher(sources, state_dir, publish or Published(), **kwargs)
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            watcher.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="test-watcher", daemon=True)
    thread.start()
    try:
        wait_for(lambda: watcher.ready.is_set() or errors, DEADLINE_S, what="watcher ready")
        if errors:
            raise errors[0]
        yield watcher
    finally:
        stop.set()
        thread.join(DEADLINE_S)
        assert not thread.is_alive(), "watcher did not stop"
    if errors:
        raise errors[0]


class LogRecorder:
    """Stands in for a module's structlog logger; keeps (level, event, fields)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, level: str) -> Callable[..., None]:
        def log(event: str, **fields: Any) -> None:
            self.records.append((level, event, fields))

        return log

    def __getattr__(self, level: str) -> Callable[..., None]:
        return self._record(level)

    def events(self, level: str | None = None) -> list[str]:
        return [e for lv, e, _f in self.records if level is None or lv == level]
