"""The detector when its writer check is partial (cannot see every process: not root)."""

from __future__ import annotations

from filerelay.model import StableSignal
from tests.watcher.test_stability import SILENCE, make, paths


def test_a_written_file_waits_for_its_close_when_the_check_is_blind() -> None:
    det, clock, fs, _writers = make(complete=False)
    fs.write("/r/a")
    det.touch("/r/a", modified=True)  # another user's writer: the check cannot see it

    clock.advance(SILENCE)
    assert det.poll() == []
    clock.advance(30)
    assert det.poll() == []  # paused mid-write: still no close-write

    det.touch("/r/a", closed=True)
    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.CLOSE_WRITE


def test_a_blind_check_still_settles_a_file_that_was_not_seen_written() -> None:
    det, clock, fs, _writers = make(complete=False)
    fs.write("/r/a")
    det.touch("/r/a")  # a create (or a synthetic one for a file in a new directory)
    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.SILENCE


def test_a_later_attrib_event_does_not_forget_the_write() -> None:
    det, clock, fs, _writers = make(complete=False)
    fs.write("/r/a")
    det.touch("/r/a", modified=True)
    det.touch("/r/a")  # chmod by the writer, still open
    clock.advance(SILENCE)
    assert det.poll() == []


def test_no_close_within_open_timeout_takes_it_anyway() -> None:
    det, clock, fs, _writers = make(complete=False, open_timeout_s=10.0)
    fs.write("/r/a")
    det.touch("/r/a", modified=True)
    clock.advance(SILENCE)
    assert det.poll() == []
    clock.advance(10.0)
    assert paths(det.poll()) == ["/r/a"]


def test_a_complete_check_settles_a_written_file_without_its_close() -> None:
    det, clock, fs, writers = make(complete=True)
    fs.write("/r/a")
    det.touch("/r/a", modified=True)  # the close event was lost; nobody has it open
    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.SILENCE
    assert writers.calls == 1


def test_polling_with_a_blind_check_waits_open_timeout_for_every_changed_file() -> None:
    det, clock, fs, _writers = make(complete=False, open_timeout_s=10.0)
    det.close_events = False  # a polling observer: no close-write ever comes
    fs.write("/r/a")
    det.touch("/r/a")  # a poll saw it appear
    clock.advance(SILENCE)
    assert det.poll() == []
    clock.advance(10.0 - SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.SILENCE


def test_polling_with_a_complete_check_needs_only_the_silence() -> None:
    det, clock, fs, _writers = make(complete=True)
    det.close_events = False
    fs.write("/r/a")
    det.touch("/r/a")
    clock.advance(SILENCE)
    assert paths(det.poll()) == ["/r/a"]


def test_a_file_found_by_a_walk_is_settled_by_silence_even_when_blind() -> None:
    det, _clock, fs, _writers = make(complete=False)
    det.close_events = False
    fs.write("/r/a", age_s=10)
    det.touch("/r/a", scan=True)
    assert paths(det.poll()) == ["/r/a"]
