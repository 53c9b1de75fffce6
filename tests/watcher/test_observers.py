"""The watchdog adapter: event tuples, limit fallback, overflow and watch-limit reporting."""

from __future__ import annotations

import contextlib
import errno
import queue
import threading
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, InotifyFD
from watchdog.observers.polling import PollingObserver

from filerelay.watcher import observers
from filerelay.watcher.observers import (
    ObserverHooks,
    QueueHandler,
    RawEvent,
    ReportingInotifyObserver,
    default_observer_factory,
    start_observer,
    stop_observer,
)
from tests.conftest import wait_for
from tests.watcher.helpers import LogRecorder, make_source


class Flags:
    def __init__(self) -> None:
        self.overflows = threading.Event()
        self.limits = threading.Event()

    def hooks(self) -> ObserverHooks:
        return ObserverHooks(on_overflow=self.overflows.set, on_watch_limit=self.limits.set)


def drain(q: queue.SimpleQueue[RawEvent]) -> list[RawEvent]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def test_native_observer_queues_small_tuples(tmp_path: Path) -> None:
    q: queue.SimpleQueue[RawEvent] = queue.SimpleQueue()
    observer, kind = start_observer(
        make_source(tmp_path),
        str(tmp_path),
        QueueHandler("src", q),
        kind="native",
        hooks=Flags().hooks(),
    )
    seen: list[RawEvent] = []
    try:
        assert kind == "native"
        (tmp_path / "a.part").write_bytes(b"x")
        (tmp_path / "a.part").rename(tmp_path / "a.csv")
        (tmp_path / "d").mkdir()
        (tmp_path / "a.csv").unlink()

        def got_delete() -> bool:
            seen.extend(drain(q))
            return any(k == "delete" for _s, k, _a, _b in seen)

        wait_for(got_delete, 10, what="delete event")
    finally:
        stop_observer(observer)
    kinds = {(k, Path(a).name, Path(b).name if b else "") for _s, k, a, b in seen}
    assert ("touch", "a.part", "") in kinds
    assert ("close", "a.part", "") in kinds
    assert ("move", "a.part", "a.csv") in kinds
    assert ("dir", "d", "") in kinds
    assert ("delete", "a.csv", "") in kinds
    assert all(s == "src" for s, *_ in seen)


def test_overflow_is_reported_to_the_hook(tmp_path: Path) -> None:
    flags = Flags()
    observer = ReportingInotifyObserver(flags.hooks())
    try:
        observer.start()
        observer.schedule(QueueHandler("s", queue.SimpleQueue()), str(tmp_path), recursive=True)
        # what the kernel sends when its queue overflowed: wd -1, IN_Q_OVERFLOW
        overflow = InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b"")  # type: ignore[arg-type]
        observer.inotify_fd.handle_event(overflow)
        assert flags.overflows.is_set()
    finally:
        stop_observer(observer)


def test_watch_limit_below_the_root_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    real_add = InotifyFD.add_callback
    root = str(tmp_path).encode()

    def add_callback(self: InotifyFD, path: bytes, *args: Any) -> Any:
        if path != root:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real_add(self, path, *args)

    monkeypatch.setattr(InotifyFD, "add_callback", add_callback)
    flags = Flags()
    observer = ReportingInotifyObserver(flags.hooks())
    try:
        observer.start()
        # watchdog 6 swallows the error for subdirectories (schedule succeeds); watchdog 7
        # raises it from schedule, where the caller falls back to polling...
        with contextlib.suppress(OSError):
            observer.schedule(QueueHandler("s", queue.SimpleQueue()), str(tmp_path), recursive=True)
        # ...either way we heard about it
        assert flags.limits.is_set()
    finally:
        stop_observer(observer)


@pytest.mark.parametrize(
    ("err", "sysctl"),
    [
        (errno.ENOSPC, "fs.inotify.max_user_watches"),
        (errno.EMFILE, "fs.inotify.max_user_instances"),
    ],
)
def test_inotify_limit_falls_back_to_polling_and_names_the_sysctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, sysctl: str
) -> None:
    recorder = LogRecorder()
    monkeypatch.setattr(observers, "log", recorder)

    class FailingSchedule(PollingObserver):
        def schedule(self, *args: Any, **kwargs: Any) -> Any:
            raise OSError(err, "inotify limit")

    def factory(kind: Any, source: Any, hooks: ObserverHooks) -> Any:
        return (
            FailingSchedule() if kind == "native" else default_observer_factory(kind, source, hooks)
        )

    observer, kind = start_observer(
        make_source(tmp_path),
        str(tmp_path),
        QueueHandler("src", queue.SimpleQueue()),
        kind="native",
        hooks=Flags().hooks(),
        factory=factory,
    )
    try:
        assert kind == "polling"
        assert isinstance(observer, PollingObserver)
        [(level, event, fields)] = recorder.records
        assert (level, event, fields["sysctl"]) == ("error", "observer.inotify_limit", sysctl)
        assert fields["fix"].startswith(f"sysctl -w {sysctl}=")
    finally:
        stop_observer(observer)


def test_other_errors_are_not_swallowed(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        start_observer(
            make_source(tmp_path),
            str(tmp_path / "missing"),
            QueueHandler("src", queue.SimpleQueue()),
            kind="native",
            hooks=Flags().hooks(),
        )
