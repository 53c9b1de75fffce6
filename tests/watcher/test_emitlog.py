"""The log of emitted files: a line per file at a human pace, a summary in a burst."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from filerelay.model import FileEvent
from filerelay.watcher.emitlog import EmitLog
from tests.factories import file_event
from tests.watcher.fakes import FakeClock


def event(i: int, source: str) -> FileEvent:
    return file_event(str(i), source=source, root="/d", size=1, inode=i)


def events(n: int, source: str = "s") -> list[tuple[FileEvent, float]]:
    return [(event(i, source), 0.5) for i in range(n)]


@pytest.fixture
def at_info() -> Iterator[None]:
    logger = logging.getLogger("filerelay.watcher.service")
    old = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(old)


def test_each_file_has_its_line_with_its_event_id_at_a_human_pace(at_info) -> None:
    clock = FakeClock()
    emit_log = EmitLog(interval_s=10, per_file_info=3, clock=clock)
    batch = events(3)
    with capture_logs() as logs:
        emit_log.emitted(batch)
        clock.advance(10)
        emit_log.tick()
    lines = [line for line in logs if line["event"] == "watcher.file_stable"]
    assert [line["event_id"] for line in lines] == [e.event_id for e, _ in batch]
    assert all(line["log_level"] == "info" and line["relpath"] for line in lines)
    assert not [line for line in logs if line["event"] == "watcher.files_emitted"]


def test_a_burst_logs_the_first_files_and_a_summary_of_all(at_info) -> None:
    clock = FakeClock()
    emit_log = EmitLog(interval_s=10, per_file_info=3, clock=clock)
    with capture_logs() as logs:
        emit_log.emitted(events(2))
        emit_log.emitted(events(500) + events(4, source="t"))
        emit_log.tick()  # the window is not over yet
        assert not [line for line in logs if line["event"] == "watcher.files_emitted"]
        clock.advance(10)
        emit_log.tick()
        emit_log.emitted(events(1))  # a new window: a line again
    stable = [line for line in logs if line["event"] == "watcher.file_stable"]
    assert [line["log_level"] for line in stable] == ["info"] * 4
    [summary] = [line for line in logs if line["event"] == "watcher.files_emitted"]
    assert summary["files"] == 506 and summary["sources"] == {"s": 502, "t": 4}
    assert summary["lines_at_info"] == 3 and summary["log_level"] == "info"


def test_files_past_the_quota_are_logged_at_debug_when_debug_is_on() -> None:
    logger = logging.getLogger("filerelay.watcher.service")
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        emit_log = EmitLog(per_file_info=1, clock=FakeClock())
        batch = events(3)
        with capture_logs() as logs:
            emit_log.emitted(batch)
            emit_log.flush()
    finally:
        logger.setLevel(old)
    stable = [(line["log_level"], line["event_id"]) for line in logs if "event_id" in line]
    assert stable == [("info", batch[0][0].event_id)] + [
        ("debug", e.event_id) for e, _ in batch[1:]
    ]
