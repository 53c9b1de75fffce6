"""The stability detector, with a fake clock, a fake stat and a fake writer check."""

from __future__ import annotations

import stat
import time

import pytest

from filerelay.model import StableSignal
from filerelay.watcher.filters import ReadyMarker
from filerelay.watcher.rules import StabilityRules
from filerelay.watcher.stability import StabilityDetector
from tests.watcher.fakes import FakeClock, FakeFS, FakeWriters

SILENCE = 2.0


def make(
    *,
    stable_when: str = "close",
    open_timeout_s: float = 60.0,
    marker: str | None = None,
    complete: bool = True,
) -> tuple[StabilityDetector, FakeClock, FakeFS, FakeWriters]:
    clock = FakeClock()
    fs = FakeFS(clock)
    writers = FakeWriters(complete)
    rules = StabilityRules(
        silence_s=SILENCE,
        stable_when=stable_when,
        open_timeout_s=open_timeout_s,
        ready_marker=ReadyMarker(marker) if marker else None,
    )
    det = StabilityDetector(rules, clock=clock, stat=fs.stat, writers=writers, root="/r")
    return det, clock, fs, writers


def paths(stable: list) -> list[str]:
    return [s.path for s in stable]


def test_file_is_stable_after_the_silence_window_not_before() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/a", 10)
    det.touch("/r/a")

    clock.advance(SILENCE - 0.1)
    assert det.poll() == []

    clock.advance(0.1)
    [done] = det.poll()
    assert done.path == "/r/a"
    assert done.signal is StableSignal.SILENCE
    assert done.stat.st_size == 10
    assert len(det) == 0
    assert det.poll() == []


def test_an_event_resets_the_window() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/a")
    det.touch("/r/a")
    clock.advance(1.5)
    fs.write("/r/a")
    det.touch("/r/a")

    clock.advance(1.0)  # 2.5 s after the first event, 1.0 s after the last
    assert det.poll() == []
    clock.advance(1.0)
    assert paths(det.poll()) == ["/r/a"]


def test_a_change_without_an_event_resets_the_window() -> None:
    # given a writer whose events were lost (or a polling observer that missed a round)
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/a", 1)
    det.touch("/r/a")
    clock.advance(1.0)
    fs.write("/r/a", 2)  # no touch

    clock.advance(1.0)
    assert det.poll() == []  # size changed since the first sample: window restarts now
    clock.advance(SILENCE - 0.01)
    assert det.poll() == []
    clock.advance(0.01)
    [done] = det.poll()
    assert done.stat.st_size == 2


def test_a_change_after_the_last_event_resets_the_window() -> None:
    det, clock, fs, _ = make()
    fs.write("/r/a", 1)
    det.touch("/r/a", closed=True)
    clock.advance(1.0)
    fs.write("/r/a", 2)  # written again after the close, and that event was lost

    clock.advance(1.0)
    assert det.poll() == []  # ctime is later than the last event: not what the events told
    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.SILENCE  # the close was stale: writer check decided


def test_close_write_after_the_last_change_makes_it_stable_without_the_writer_check() -> None:
    det, clock, fs, writers = make()
    fs.write("/r/a")
    det.touch("/r/a")
    det.touch("/r/a", closed=True)

    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.CLOSE_WRITE
    assert writers.calls == 0


def test_a_modify_after_close_needs_the_writer_check_again() -> None:
    det, clock, fs, writers = make()
    fs.write("/r/a")
    det.touch("/r/a", closed=True)
    det.touch("/r/a")  # reopened and written again

    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.SILENCE
    assert writers.calls == 1


def test_open_writer_holds_the_file_past_the_silence_window() -> None:
    det, clock, fs, writers = make()
    f = fs.write("/r/a")
    writers.open.add((f.dev, f.ino))
    det.touch("/r/a")

    clock.advance(SILENCE)
    assert det.poll() == []
    clock.advance(30)
    assert det.poll() == []  # still open, still quiet, below open_timeout

    writers.open.clear()  # the writer closed it, and its close event was lost
    clock.advance(5)
    [done] = det.poll()
    assert done.signal is StableSignal.SILENCE


def test_open_timeout_takes_an_idle_open_file_anyway() -> None:
    det, clock, fs, writers = make(open_timeout_s=10.0)
    f = fs.write("/r/a")
    writers.open.add((f.dev, f.ino))
    det.touch("/r/a")

    clock.advance(SILENCE)
    assert det.poll() == []
    for _ in range(20):
        clock.advance(0.5)
        if stable := det.poll():
            break
    else:
        pytest.fail("never taken")
    assert paths(stable) == ["/r/a"]
    assert clock() - 1_000_000.0 >= 10.0


def test_stable_when_silence_never_asks_about_writers() -> None:
    det, clock, fs, writers = make(stable_when="silence")
    f = fs.write("/r/log")
    writers.open.add((f.dev, f.ino))
    det.touch("/r/log")
    clock.advance(SILENCE)
    assert paths(det.poll()) == ["/r/log"]
    assert writers.calls == 0


def test_writer_check_is_one_call_per_poll_for_many_files() -> None:
    det, clock, fs, writers = make()
    for i in range(50):
        fs.write(f"/r/f{i}")
        det.touch(f"/r/f{i}")
    clock.advance(SILENCE)
    assert len(det.poll()) == 50
    assert writers.calls == 1


def test_ready_marker_must_exist() -> None:
    det, clock, fs, _ = make(marker="{name}.done")
    fs.write("/r/d/a.csv")
    det.touch("/r/d/a.csv", closed=True)
    clock.advance(SILENCE)
    assert det.poll() == []

    fs.write("/r/d/a.csv.done", 0)
    det.marker_appeared("/r/d/a.csv.done")  # the watcher saw the marker's event
    [done] = det.poll()
    assert done.signal is StableSignal.READY_MARKER


def test_ready_marker_is_found_by_recheck_without_its_event() -> None:
    det, clock, fs, _ = make(marker="{stem}.ok")
    fs.write("/r/a.csv")
    det.touch("/r/a.csv")
    clock.advance(SILENCE)
    assert det.poll() == []
    fs.write("/r/a.ok", 0)
    clock.advance(det.rules.recheck_s)
    assert paths(det.poll()) == ["/r/a.csv"]


def test_vanished_pending_file_is_dropped_silently() -> None:
    det, clock, fs, _ = make()
    fs.write("/r/a")
    det.touch("/r/a")
    fs.remove("/r/a")
    clock.advance(SILENCE)
    assert det.poll() == []
    assert len(det) == 0


def test_touch_of_a_file_already_gone_is_ignored() -> None:
    det, _clock, _fs, _ = make()
    det.touch("/r/never")
    assert len(det) == 0


def test_forget_drops_a_pending_file() -> None:
    det, clock, fs, _ = make()
    fs.write("/r/x.part")
    det.touch("/r/x.part")
    det.forget("/r/x.part")
    clock.advance(SILENCE)
    assert det.poll() == []


def test_forget_tree_drops_everything_below_a_directory() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    for p in ("/r/d/a", "/r/d/e/b", "/r/dd/c"):
        fs.write(p)
        det.touch(p)
    assert det.forget_tree("/r/d") == 2
    clock.advance(SILENCE)
    assert paths(det.poll()) == ["/r/dd/c"]


def test_scan_of_an_old_file_is_stable_at_the_first_poll() -> None:
    det, _clock, fs, writers = make()
    fs.write("/r/old", age_s=SILENCE + 1)
    det.touch("/r/old", scan=True)
    [done] = det.poll()
    assert done.signal is StableSignal.SCAN
    assert writers.calls == 1  # still subject to the writer check


def test_scan_of_an_old_file_held_open_waits() -> None:
    det, _clock, fs, writers = make()
    f = fs.write("/r/old", age_s=SILENCE + 1)
    writers.open.add((f.dev, f.ino))
    det.touch("/r/old", scan=True)
    assert det.poll() == []


def test_scan_of_a_young_file_waits_for_the_rest_of_its_window() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/young", age_s=0.5)
    det.touch("/r/young", scan=True)
    assert det.poll() == []
    clock.advance(SILENCE - 0.5)
    [done] = det.poll()
    assert done.signal is StableSignal.SCAN


def test_scan_does_not_shorten_the_window_of_a_file_with_events() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/a", age_s=10)  # ctime old, but an event came just now
    det.touch("/r/a")
    det.touch("/r/a", scan=True)
    assert det.poll() == []
    clock.advance(SILENCE)
    assert det.poll()[0].signal is StableSignal.SILENCE


def test_non_regular_files_are_never_stable() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    f = fs.write("/r/link")
    f.mode = stat.S_IFLNK | 0o777
    det.touch("/r/link")
    clock.advance(SILENCE)
    assert det.poll() == []


def test_requeue_reports_the_file_again_later() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/a")
    det.touch("/r/a")
    clock.advance(SILENCE)
    [done] = det.poll()
    det.requeue(done, 1.0)
    assert det.poll() == []
    clock.advance(1.0)
    assert paths(det.poll()) == ["/r/a"]


def test_poll_limit_bounds_the_work_of_one_poll() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    for i in range(10):
        fs.write(f"/r/{i}")
        det.touch(f"/r/{i}")
    clock.advance(SILENCE)
    assert len(det.poll(limit=4)) == 4
    assert len(det.poll(limit=4)) == 4
    assert len(det.poll()) == 2


@pytest.mark.slow  # 100k files
def test_100k_pending_files_cost_nothing_when_nothing_is_due() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    for i in range(100_000):
        fs.write(f"/r/{i}")
        det.touch(f"/r/{i}")
    for i in range(0, 100_000, 7):
        det.touch(f"/r/{i}")  # repeated events: O(1), no heap growth

    started = time.perf_counter()
    for _ in range(1000):
        assert det.poll() == []
    assert time.perf_counter() - started < 0.5  # 1,000 idle polls

    clock.advance(SILENCE)
    started = time.perf_counter()
    assert len(det.poll()) == 100_000
    assert time.perf_counter() - started < 5.0


def test_a_walk_found_file_with_an_event_since_waits_for_its_window() -> None:
    # given an old file a walk found (quiet already), then written to
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/old", age_s=SILENCE + 1)
    det.touch("/r/old", scan=True)
    fs.write("/r/old")
    det.touch("/r/old")
    # then it is reported once, after the window of its event, as a silence
    assert det.poll() == []
    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.signal is StableSignal.SILENCE
    assert det.poll() == [] and len(det) == 0


def test_a_file_two_walks_found_is_reported_once_by_a_poll() -> None:
    det, _clock, fs, _ = make(stable_when="silence")
    fs.write("/r/old", age_s=SILENCE + 1)
    det.touch("/r/old", scan=True)
    det.touch("/r/old", scan=True)  # a rescan before the first poll
    assert paths(det.poll()) == ["/r/old"]
    assert det.poll() == [] and len(det) == 0


def test_a_walk_found_file_changed_without_an_event_starts_its_window_again() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    fs.write("/r/old", age_s=SILENCE + 1)
    det.touch("/r/old", scan=True)
    fs.write("/r/old")  # the event was lost
    assert det.poll() == []
    clock.advance(SILENCE)
    [done] = det.poll()
    assert done.stat.st_size == 2


def test_a_walk_found_file_deleted_before_the_poll_is_dropped() -> None:
    det, _clock, fs, _ = make(stable_when="silence")
    fs.write("/r/old", age_s=SILENCE + 1)
    det.touch("/r/old", scan=True)
    assert "/r/old" in det
    fs.remove("/r/old")
    det.forget("/r/old")
    assert det.poll() == [] and len(det) == 0


def test_a_poll_limit_takes_walk_found_files_in_walk_order() -> None:
    det, _clock, fs, _ = make(stable_when="silence")
    for name in ("c", "a", "b"):
        fs.write(f"/r/{name}", age_s=SILENCE + 1)
        det.touch(f"/r/{name}", scan=True)
    assert paths(det.poll(limit=2)) == ["/r/c", "/r/a"]
    assert paths(det.poll(limit=2)) == ["/r/b"]


def test_walk_found_files_of_several_directories_and_walks_come_out_in_walk_order() -> None:
    det, clock, fs, _ = make(stable_when="silence")
    names = ["/r/d1/a", "/r/d1/b", "/r/d2/c", "/r/d1/e", "/r/top"]
    for name in names:
        fs.write(name, age_s=SILENCE + 1)
        det.touch(name, scan=True)
    clock.advance(0.1)
    fs.write("/r/d1/f", age_s=SILENCE + 1)
    det.touch("/r/d1/f", scan=True)  # a later walk of the same directory
    assert "/r/d1/e" in det and "/r/d1/f" in det and "/r/d1/x" not in det
    assert len(det) == 6
    assert paths(det.poll()) == [*names, "/r/d1/f"]


@pytest.mark.parametrize(
    "names",
    [
        ["q1", "young1", "pending", "link", "q2", "young2", "q3"],
        ["q1", "q2", "q3", "pending", "q4"],  # every new file quiet: the directory at once
        ["q1", "link", "q2", "q3"],
    ],
)
def test_found_files_of_a_directory_are_what_a_scan_touch_of_each_made(names: list[str]) -> None:
    # given two detectors and the same directory: files quiet already, young ones, one pending
    # from an event, one no longer a regular file
    made = [make(stable_when="silence"), make(stable_when="silence")]
    for det, _clock, fs, _writers in made:
        for name in names:
            fs.write(f"/r/d/{name}", age_s=0.5 if name.startswith("young") else SILENCE + 1)
        if "link" in names:
            fs.files["/r/d/link"].mode = stat.S_IFLNK | 0o777
        if "pending" in names:
            det.touch("/r/d/pending")
    (det_touch, clock_touch, fs_touch, _), (det_found, clock_found, fs_found, _) = made
    # when one is told file by file (touch(scan=True)), the other the directory at once
    now = clock_touch()
    for name in names:
        det_touch.touch(f"/r/d/{name}", scan=True, st=fs_touch.stat(f"/r/d/{name}"), now=now)
    det_found.found("/r/d/", names, [fs_found.stat(f"/r/d/{n}") for n in names], clock_found())
    # then both hold the same files and report the same, in the same order, poll by poll
    assert len(det_found) == len(det_touch) == len(names) - ("link" in names)
    assert all((f"/r/d/{n}" in det_found) == (f"/r/d/{n}" in det_touch) for n in names)
    for _ in range(4):
        touched, found = det_touch.poll(limit=2), det_found.poll(limit=2)
        assert [(s.path, s.signal, s.pending_since) for s in found] == [
            (s.path, s.signal, s.pending_since) for s in touched
        ]
        clock_touch.advance(SILENCE / 2)
        clock_found.advance(SILENCE / 2)
    assert len(det_found) == len(det_touch) == 0
