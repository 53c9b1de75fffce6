"""The Watcher end to end: real directories, real watchdog observers, a recording publish."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers.polling import PollingObserver

from filerelay.errors import ConfigError
from filerelay.model import StableSignal, content_dedup_key
from filerelay.watcher.observers import ObserverHooks, default_observer_factory
from tests.conftest import wait_for
from tests.watcher.fakes import FakeWriters
from tests.watcher.helpers import Published, make_source, running

# The polling tests give the watcher a writer check that sees every process: with a partial
# one (not root, or a process hiding its descriptors even from root, as some sandboxes' pid 1
# does) polling waits open_timeout (tests/watcher/test_other_users.py).


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def write_slowly(path: Path, chunks: int, pause_s: float, chunk: bytes = b"x" * 1000) -> int:
    with path.open("wb") as fh:
        for _ in range(chunks):
            fh.write(chunk)
            fh.flush()
            time.sleep(pause_s)  # the writer's pace, not an assertion
    return chunks * len(chunk)


def test_slow_chunked_write_is_emitted_once_whole(inbox: Path, state: Path) -> None:
    published = Published()
    with running([make_source(inbox)], state, published):
        size = write_slowly(inbox / "slow.bin", chunks=8, pause_s=0.15)  # 1.2 s > silence
        published.wait_for("slow.bin")
        assert [e.size for e in published.of("slow.bin")] == [size]


def test_open_writer_pausing_past_the_silence_window_is_waited_for(
    inbox: Path, state: Path
) -> None:
    published = Published()
    with running([make_source(inbox, silence=0.3)], state, published):
        with (inbox / "stalled.bin").open("wb") as fh:
            fh.write(b"a" * 100)
            fh.flush()
            time.sleep(1.2)  # the stall: 4 silence windows with the file open for writing
            assert published.of("stalled.bin") == []
            fh.write(b"b" * 100)
        published.wait_for("stalled.bin")
        assert [e.size for e in published.of("stalled.bin")] == [200]


def test_rename_after_write_emits_only_the_final_name(inbox: Path, state: Path) -> None:
    published = Published()
    with running([make_source(inbox)], state, published):
        (inbox / "x.part").write_bytes(b"data")
        (inbox / "x.part").rename(inbox / "x.csv")
        (inbox / "upload.dat").write_bytes(b"more")  # not a temp name: renamed within silence
        (inbox / "upload.dat").rename(inbox / "final.dat")
        published.wait_for("x.csv", "final.dat")
        assert sorted(published.relpaths()) == ["final.dat", "x.csv"]


def test_files_in_directories_created_during_the_run_are_emitted(inbox: Path, state: Path) -> None:
    published = Published()
    with running([make_source(inbox)], state, published):
        deep = inbox / "a" / "b" / "c"
        deep.mkdir(parents=True)  # files land before watches on b and c can exist
        for d in (inbox / "a", inbox / "a" / "b", deep):
            (d / "f.txt").write_bytes(b"1")
        published.wait_for("a/f.txt", "a/b/f.txt", "a/b/c/f.txt")


def test_directory_moved_in_from_outside_is_scanned(
    inbox: Path, state: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "sub").mkdir(parents=True)
    (outside / "one.csv").write_bytes(b"1")
    (outside / "sub" / "two.csv").write_bytes(b"2")
    published = Published()
    with running([make_source(inbox)], state, published):
        outside.rename(inbox / "arrived")
        published.wait_for("arrived/one.csv", "arrived/sub/two.csv")


def test_files_present_before_start_are_emitted_by_the_reconcile(inbox: Path, state: Path) -> None:
    (inbox / "sub").mkdir()
    (inbox / "old.csv").write_bytes(b"1")
    (inbox / "sub" / "old2.csv").write_bytes(b"22")
    published = Published()
    with running([make_source(inbox)], state, published):
        published.wait_for("old.csv", "sub/old2.csv")
    assert sorted(published.relpaths()) == ["old.csv", "sub/old2.csv"]


def test_restarted_watcher_does_not_emit_again(inbox: Path, state: Path) -> None:
    for i in range(5):
        (inbox / f"f{i}.csv").write_bytes(b"x")
    first = Published()
    with running([make_source(inbox)], state, first):
        first.wait_for(*(f"f{i}.csv" for i in range(5)))
    assert len(first.events) == 5

    second = Published()
    with running([make_source(inbox)], state, second):
        # old files would be due at the first poll, long before this one's silence is over
        (inbox / "f0.csv").write_bytes(b"changed")  # a new version is a new event
        (inbox / "new.csv").write_bytes(b"y")
        second.wait_for("new.csv", "f0.csv")
    assert sorted(second.relpaths()) == ["f0.csv", "new.csv"]


def test_excluded_hidden_and_temp_files_are_not_emitted(inbox: Path, state: Path) -> None:
    source = make_source(inbox, include=["*.csv", "*.tmp"], exclude=["skip/**"])
    (inbox / "skip").mkdir()
    published = Published()
    with running([source], state, published):
        (inbox / "skip" / "no.csv").write_bytes(b"")
        (inbox / "no.json").write_bytes(b"")
        (inbox / "no.tmp").write_bytes(b"")
        (inbox / ".no.csv").write_bytes(b"")
        (inbox / "lock.csv~").write_bytes(b"")
        (inbox / ".git").mkdir()
        (inbox / ".git" / "no.csv").write_bytes(b"")
        time.sleep(0.05)  # only orders the sentinel after the others; not the assertion
        (inbox / "yes.csv").write_bytes(b"")
        published.wait_for("yes.csv")
    assert published.relpaths() == ["yes.csv"]


def test_200_files_at_once_give_200_events_each_once(inbox: Path, state: Path) -> None:
    published = Published()
    names = [f"batch/{i:03d}.bin" for i in range(200)]
    with running([make_source(inbox)], state, published):
        (inbox / "batch").mkdir()
        for name in names:
            (inbox / name).write_bytes(name.encode())
        published.wait_for(*names)
    assert sorted(published.relpaths()) == names
    assert len({e.dedup_key for e in published.events}) == 200


def test_failing_publish_delivers_everything_once_in_order_when_back(
    inbox: Path, state: Path
) -> None:
    published = Published()
    failures = {"left": 4}
    lock = threading.Lock()

    def flaky(events: list[Any]) -> None:
        with lock:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise ConnectionError("broker down")
        published(events)

    names = [f"f{i:02d}.csv" for i in range(20)]
    with running([make_source(inbox)], state, flaky, publish_batch=7):
        for name in names:
            (inbox / name).write_bytes(b"x")
        published.wait_for(*names)
    assert failures["left"] == 0
    assert sorted(published.relpaths()) == names
    detected = [e.detected_at for e in published.events]
    assert detected == sorted(detected)  # batches went out in outbox order


def test_inotify_watch_limit_from_the_factory_falls_back_to_polling(
    inbox: Path, state: Path
) -> None:
    def factory(kind: str, source: Any, hooks: ObserverHooks) -> Any:
        if kind == "native":
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return default_observer_factory(kind, source, hooks)  # type: ignore[arg-type]

    published = Published()
    with running(
        [make_source(inbox, observer="native")],
        state,
        published,
        observer_factory=factory,
        writer_check=FakeWriters(complete=True),
    ) as w:
        assert w.sources["src"].kind == "polling"
        (inbox / "a.csv").write_bytes(b"1")
        published.wait_for("a.csv")


def test_forced_polling_observer_works(inbox: Path, state: Path) -> None:
    published = Published()
    sees_all = FakeWriters(complete=True)
    with running(
        [make_source(inbox, observer="polling")], state, published, writer_check=sees_all
    ) as w:
        assert isinstance(w.sources["src"].observer, PollingObserver)
        (inbox / "sub").mkdir()
        (inbox / "sub" / "p.csv").write_bytes(b"1")
        (inbox / "q.part").write_bytes(b"2")
        (inbox / "q.part").rename(inbox / "q.csv")
        published.wait_for("sub/p.csv", "q.csv")


class DeafFactory:
    """Observers that never report (a poll every hour), remembering the hooks they got."""

    def __init__(self) -> None:
        self.hooks: ObserverHooks | None = None

    def __call__(self, kind: str, source: Any, hooks: ObserverHooks) -> Any:
        self.hooks = hooks
        return PollingObserver(timeout=3600)


def test_queue_overflow_triggers_a_rescan_at_once(inbox: Path, state: Path) -> None:
    factory = DeafFactory()
    published = Published()
    with running([make_source(inbox)], state, published, observer_factory=factory):
        (inbox / "missed.csv").write_bytes(b"no event came for this")
        assert factory.hooks is not None
        factory.hooks.on_overflow()
        published.wait_for("missed.csv")


def test_watch_limit_during_the_run_switches_the_source_to_polling(
    inbox: Path, state: Path
) -> None:
    deaf = DeafFactory()

    def factory(kind: str, source: Any, hooks: ObserverHooks) -> Any:
        if kind == "polling":
            return default_observer_factory(kind, source, hooks)  # type: ignore[arg-type]
        return deaf(kind, source, hooks)

    published = Published()
    source = make_source(inbox, observer="native")
    sees_all = FakeWriters(complete=True)
    with running([source], state, published, observer_factory=factory, writer_check=sees_all) as w:
        assert deaf.hooks is not None
        deaf.hooks.on_watch_limit()
        wait_for(lambda: w.sources["src"].kind == "polling", 10, what="switch to polling")
        (inbox / "after.csv").write_bytes(b"1")
        published.wait_for("after.csv")


def test_ready_marker_gates_the_file_and_is_not_emitted(inbox: Path, state: Path) -> None:
    published = Published()
    with running([make_source(inbox, ready_marker="{name}.done")], state, published):
        (inbox / "data.csv").write_bytes(b"1,2,3")
        (inbox / "other.csv").write_bytes(b"4")  # a sentinel without a marker
        (inbox / "sentinel.csv").write_bytes(b"")
        (inbox / "sentinel.csv.done").write_bytes(b"")
        published.wait_for("sentinel.csv")
        assert published.of("data.csv") == []
        (inbox / "data.csv.done").write_bytes(b"")
        published.wait_for("data.csv")
        assert published.of("data.csv")[0].stable_signal is StableSignal.READY_MARKER
    assert sorted(published.relpaths()) == ["data.csv", "sentinel.csv"]


def test_content_dedup_hashes_the_file(inbox: Path, state: Path) -> None:
    published = Published()
    with running([make_source(inbox, dedup="content", tags={"team": "t"})], state, published):
        (inbox / "c.bin").write_bytes(b"hello")
        published.wait_for("c.bin")
    [event] = published.events
    digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert event.sha256 == digest
    assert event.dedup_key == content_dedup_key("src", digest)
    assert event.tags == {"team": "t"}
    assert event.path == str(inbox / "c.bin")


def test_odd_names_are_emitted(inbox: Path, state: Path) -> None:
    published = Published()
    raw = os.fsencode(inbox) + b"/caf\xe9 \xff.bin"
    with running([make_source(inbox)], state, published):
        with open(raw, "wb") as fh:
            fh.write(b"x")
        (inbox / "new\nline.csv").write_bytes(b"y")
        published.wait_for(os.fsdecode(b"caf\xe9 \xff.bin"), "new\nline.csv")


def test_two_sources_each_with_their_settings(tmp_path: Path, state: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    published = Published()
    sources = [
        make_source(a, name="a", create=True),
        make_source(b, name="b", create=True, include=["*.jpg"]),
    ]
    with running(sources, state, published):
        (a / "x.jpg").write_bytes(b"1")
        (b / "y.csv").write_bytes(b"2")
        (b / "z.jpg").write_bytes(b"3")
        published.wait_for("x.jpg", "z.jpg")
    assert sorted((e.source, e.relpath) for e in published.events) == [
        ("a", "x.jpg"),
        ("b", "z.jpg"),
    ]


def test_missing_source_dir_without_create_fails_at_start(tmp_path: Path, state: Path) -> None:
    with (
        pytest.raises(ConfigError, match="create: true"),
        running([make_source(tmp_path / "nope")], state),
    ):
        pass


def test_outbox_rows_left_by_a_failed_run_are_published_at_next_start(
    inbox: Path, state: Path
) -> None:
    def down(events: list[Any]) -> None:
        raise ConnectionError("broker down")

    (inbox / "kept.csv").write_bytes(b"1")
    with running([make_source(inbox)], state, down, flush_timeout_s=0.5) as w:
        wait_for(lambda: w.outbox is not None and w.outbox.depth() == 1, 10, what="outbox row")
    published = Published()
    with running([make_source(inbox)], state, published):
        published.wait_for("kept.csv")
    assert published.relpaths() == ["kept.csv"]


def test_file_deleted_while_pending_is_dropped(inbox: Path, state: Path) -> None:
    published = Published()
    with running([make_source(inbox, silence=0.5)], state, published):
        (inbox / "gone.csv").write_bytes(b"1")
        (inbox / "gone.csv").unlink()
        (inbox / "stays.csv").write_bytes(b"1")
        published.wait_for("stays.csv")
    assert published.relpaths() == ["stays.csv"]


def test_tree_removed_and_recreated_keeps_working(inbox: Path, state: Path) -> None:
    published = Published()
    with running([make_source(inbox)], state, published):
        (inbox / "d").mkdir()
        (inbox / "d" / "1.csv").write_bytes(b"1")
        published.wait_for("d/1.csv")
        shutil.rmtree(inbox / "d")
        (inbox / "d").mkdir()
        (inbox / "d" / "2.csv").write_bytes(b"2")
        published.wait_for("d/2.csv")


def test_directory_event_alone_makes_its_files_found(inbox: Path, state: Path) -> None:
    # watchdog's own simulated events for a new directory are not relied upon: with an
    # observer that reports nothing but the directory itself, its files are still found
    factory = DeafFactory()
    published = Published()
    with running([make_source(inbox)], state, published, observer_factory=factory) as w:
        (inbox / "new" / "deeper").mkdir(parents=True)
        (inbox / "new" / "a.csv").write_bytes(b"1")
        (inbox / "new" / "deeper" / "b.csv").write_bytes(b"2")
        (inbox / "moved").mkdir()
        (inbox / "moved" / "c.csv").write_bytes(b"3")
        w._events.put(("src", "dir", str(inbox / "new"), ""))
        w._events.put(("src", "dirmove", str(inbox / "was"), str(inbox / "moved")))
        published.wait_for("new/a.csv", "new/deeper/b.csv", "moved/c.csv")
