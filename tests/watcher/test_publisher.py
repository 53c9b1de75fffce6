"""The publisher thread against a real outbox."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from filerelay.model import FileEvent
from filerelay.watcher import publisher as publisher_mod
from filerelay.watcher.outbox import Outbox
from filerelay.watcher.publisher import Publisher
from tests.conftest import wait_for
from tests.watcher.helpers import LogRecorder
from tests.watcher.test_outbox import event


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path)
    yield box
    box.close()


def run(pub: Publisher) -> None:
    pub.start()


def stop(pub: Publisher) -> None:
    pub.stop()
    pub.join(10)
    assert not pub.is_alive()


def test_failures_back_off_then_everything_goes_out_once_in_order(
    outbox: Outbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = LogRecorder()
    monkeypatch.setattr(publisher_mod, "log", recorder)
    outbox.emit([event(f"f{i:02d}") for i in range(10)])
    expected = [e.event_id for _id, e in outbox.peek(100)]
    delivered: list[FileEvent] = []
    calls = {"n": 0}

    def publish(events: list[FileEvent]) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise ConnectionError("down")
        delivered.extend(events)

    pub = Publisher(outbox, publish, batch_size=4, first_backoff_s=0.01)
    run(pub)
    try:
        wait_for(lambda: outbox.depth() == 0, 10, what="outbox drained")
    finally:
        stop(pub)
    assert [e.event_id for e in delivered] == expected
    assert recorder.events("warning").count("publisher.publish_failed") == 3  # one per attempt
    assert "publisher.recovered" in recorder.events("info")


def test_failed_attempts_are_recorded_on_the_rows(outbox: Outbox, tmp_path: Path) -> None:
    outbox.emit([event("a")])

    def down(events: list[FileEvent]) -> None:
        raise TimeoutError("broker timeout")

    pub = Publisher(outbox, down, first_backoff_s=0.01, max_backoff_s=0.02, flush_timeout_s=0.1)
    run(pub)
    db = sqlite3.connect(tmp_path / "watcher.sqlite")
    try:
        wait_for(
            lambda: db.execute("SELECT attempts FROM outbox").fetchone()[0] >= 3,
            10,
            what="three attempts",
        )
    finally:
        stop(pub)
    attempts, error = db.execute("SELECT attempts, last_error FROM outbox").fetchone()
    assert attempts >= 3
    db.close()
    assert "broker timeout" in error
    assert outbox.depth() == 1  # kept for later


def test_stop_flushes_what_is_left(outbox: Outbox) -> None:
    delivered: list[FileEvent] = []
    pub = Publisher(outbox, delivered.extend, idle_wait_s=60)
    run(pub)
    try:
        wait_for(lambda: pub.is_alive(), 5)
        outbox.emit([event("late")])  # no wake(): only the final flush can send it in time
    finally:
        stop(pub)
    assert [e.relpath for e in delivered] == ["late"]


def test_a_linger_waits_once_for_more_rows_and_never_at_stop(outbox: Outbox) -> None:
    # given a publisher asked to linger 0.5 s while fewer than 10 rows wait
    published: list[list[str]] = []
    asked: list[int] = []

    def linger(waiting: int) -> float:
        asked.append(waiting)
        return 0.5 if waiting < 10 else 0.0

    pub = Publisher(outbox, lambda evs: published.append([e.relpath for e in evs]), linger=linger)
    run(pub)
    try:
        # when 3 rows come, then 7 more while it lingers
        outbox.emit([event(f"a{i}") for i in range(3)])
        pub.wake()
        wait_for(lambda: asked, 10, what="the linger asked")
        outbox.emit([event(f"b{i}") for i in range(7)])
        pub.wake()
        wait_for(lambda: outbox.depth() == 0, 10, what="outbox drained")
        # then they went out in one publish, after one linger, which the publisher asked
        # again as it went on and which ended once 10 were waiting
        assert [len(batch) for batch in published] == [10]
        assert asked[0] == 3 and asked[-1] == 10 and set(asked) == {3, 10}, asked
        # and a row that comes alone lingers again, once
        asked.clear()
        outbox.emit([event("c0")])
        pub.wake()
        wait_for(lambda: outbox.depth() == 0, 10, what="outbox drained")
        assert [len(batch) for batch in published] == [10, 1] and set(asked) == {1}, asked
        outbox.emit([event("d0")])
    finally:
        # when it stops with a row waiting: the final flush publishes it without lingering
        pub.linger = lambda _waiting: 60.0
        stop(pub)
    assert published[-1] == ["d0"]


def test_a_linger_ends_as_soon_as_it_is_no_longer_wanted(outbox: Outbox) -> None:
    # given a publisher asked to linger a minute while the workers are busy
    published: list[list[str]] = []
    asked: list[int] = []
    busy = threading.Event()
    busy.set()

    def linger(waiting: int) -> float:
        asked.append(waiting)
        return 60.0 if busy.is_set() else 0.0

    pub = Publisher(outbox, lambda evs: published.append([e.relpath for e in evs]), linger=linger)
    run(pub)
    try:
        # when 2 rows come while they are busy
        outbox.emit([event("a0"), event("a1")])
        pub.wake()
        wait_for(lambda: len(asked) >= 2, 10, what="the linger, asked again")
        assert published == []
        # then once the workers' queue drains the rows go out together, long before a minute
        busy.clear()
        wait_for(lambda: published == [["a0", "a1"]], 10, what="the publish")
    finally:
        stop(pub)
