"""The SQLite outbox and seen index."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from filerelay.model import FileEvent
from filerelay.watcher.outbox import Outbox, StateDirLocked
from filerelay.watcher.version import file_version, stat_version
from tests.factories import file_event

CTIME_NS = 11


def event(
    relpath: str, size: int = 1, mtime_ns: int = 5, inode: int = 7, source: str = "s"
) -> FileEvent:
    return file_event(
        relpath, source=source, size=size, mtime_ns=mtime_ns, inode=inode, ctime_ns=CTIME_NS
    )


def v(size: int, mtime_ns: int, inode: int, ctime_ns: int = CTIME_NS) -> int:
    """The version of a file as :func:`event` builds it."""
    return file_version(size, mtime_ns, inode, ctime_ns)


@pytest.fixture
def outbox(tmp_path: Path):
    box = Outbox(tmp_path)
    yield box
    box.close()


def test_emit_peek_ack_in_order(outbox: Outbox) -> None:
    events = [event(f"f{i}") for i in range(5)]
    assert outbox.emit(events) == 5
    assert outbox.depth() == 5

    rows = outbox.peek(3)
    assert [e.relpath for _id, e in rows] == ["f0", "f1", "f2"]
    assert rows[0][1] == events[0]
    outbox.ack([row_id for row_id, _e in rows])
    assert [e.relpath for _id, e in outbox.peek(10)] == ["f3", "f4"]
    assert outbox.depth() == 2


def test_emit_marks_seen_in_the_same_transaction(tmp_path: Path, outbox: Outbox) -> None:
    outbox.emit([event("a.csv", size=3, mtime_ns=9, inode=4)])
    assert outbox.is_seen("s", "a.csv", v(3, 9, 4))
    assert not outbox.is_seen("s", "a.csv", v(3, 10, 4))  # another version
    assert not outbox.is_seen("other", "a.csv", v(3, 9, 4))

    db = sqlite3.connect(tmp_path / "watcher.sqlite")
    assert db.execute("SELECT COUNT(*) FROM seen").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_seen_survives_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.emit([event("a.csv")])
    box.close()
    again = Outbox(tmp_path)
    try:
        assert again.is_seen("s", "a.csv", v(1, 5, 7))
        assert again.depth() == 1
    finally:
        again.close()


def test_note_failure_counts_attempts(tmp_path: Path, outbox: Outbox) -> None:
    outbox.emit([event("a")])
    [(row_id, _e)] = outbox.peek(1)
    outbox.note_failure([row_id], "ConnectionError('down \udcff')")
    outbox.note_failure([row_id], "again")
    db = sqlite3.connect(tmp_path / "watcher.sqlite")
    assert db.execute("SELECT attempts, last_error FROM outbox").fetchone() == (2, "again")
    db.close()


def test_full_outbox_takes_a_prefix_and_refuses_the_rest(tmp_path: Path) -> None:
    box = Outbox(tmp_path, max_rows=3)
    try:
        assert box.emit([event("a"), event("b")]) == 2
        assert box.emit([event("c"), event("d")]) == 1
        assert box.emit([event("e")]) == 0
        assert not box.is_seen("s", "d", v(1, 5, 7))  # refused rows are not remembered
        box.ack([row_id for row_id, _e in box.peek(1)])
        assert box.emit([event("d")]) == 1
    finally:
        box.close()


def test_names_that_are_not_utf8_round_trip(outbox: Outbox) -> None:
    name = "caf\udce9/\n x.csv"
    outbox.emit([event(name)])
    [(_id, got)] = outbox.peek(1)
    assert got.relpath == name
    outbox.load_seen("s")
    assert outbox.is_seen("s", name, v(1, 5, 7))


def test_prune_forgets_files_gone_before_the_walk(outbox: Outbox) -> None:
    outbox.emit([event("kept"), event("gone")])
    walk_started = time.time() + 1
    assert outbox.prune_missing("s", {"gone"}, walk_started) == 1
    assert outbox.is_seen("s", "kept", v(1, 5, 7))
    assert not outbox.is_seen("s", "gone", v(1, 5, 7))
    outbox.load_seen("s")
    assert not outbox.is_seen("s", "gone", v(1, 5, 7))


def test_prune_keeps_files_emitted_during_the_walk(outbox: Outbox) -> None:
    walk_started = time.time() - 1
    outbox.emit([event("new")])
    outbox.load_seen("s")
    assert outbox.prune_missing("s", {"new"}, walk_started) == 0


def test_poison_row_is_removed_not_blocking(tmp_path: Path, outbox: Outbox) -> None:
    db = sqlite3.connect(tmp_path / "watcher.sqlite")
    db.execute("INSERT INTO outbox (event, created_at) VALUES ('{not json', 0)")
    db.commit()
    db.close()
    outbox.emit([event("ok")])
    assert [e.relpath for _id, e in outbox.peek(10)] == ["ok"]
    assert len(outbox.peek(10)) == 1


def test_second_watcher_on_the_same_state_dir_is_refused(outbox: Outbox, tmp_path: Path) -> None:
    with pytest.raises(StateDirLocked):
        Outbox(tmp_path)


@pytest.mark.slow  # 100k files
def test_seen_lookup_of_100k_files_is_fast(outbox: Outbox) -> None:
    outbox.emit([event(f"d/{i}.csv", inode=i) for i in range(100_000)])
    outbox.load_seen("s")
    started = time.perf_counter()
    hits = sum(outbox.is_seen("s", f"d/{i}.csv", v(1, 5, i)) for i in range(100_000))
    assert hits == 100_000
    assert time.perf_counter() - started < 1.0


def test_prune_missing_forgets_files_a_walk_did_not_find(outbox: Outbox) -> None:
    outbox.emit([event("kept"), event("gone")])
    outbox.load_seen("s")
    walk_started = time.time() + 1
    missing = set(outbox.seen_versions("s")) - {"kept"}
    assert outbox.prune_missing("s", missing, walk_started) == 1
    assert outbox.is_seen("s", "kept", v(1, 5, 7))
    assert not outbox.is_seen("s", "gone", v(1, 5, 7))
    outbox.load_seen("s")
    assert not outbox.is_seen("s", "gone", v(1, 5, 7))


def test_prune_missing_keeps_a_file_emitted_again_during_the_walk(outbox: Outbox) -> None:
    walk_started = time.time() - 1
    outbox.emit([event("back")])  # seen before the walk started, re-emitted during it
    assert outbox.prune_missing("s", {"back"}, walk_started) == 0
    assert outbox.is_seen("s", "back", v(1, 5, 7))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((1, 5, 7, 9), (1, 5, 8, 9)),
        ((1, 5, 7, 9), (1, 6, 7, 9)),
        ((1, 5, 7, 9), (2, 5, 7, 9)),
        ((1, 5, 7, 9), (1, 5, 7, 10)),  # only the ctime differs: cp -p of the same size
        ((0, -1, 0, 0), (0, 0, 2**64 - 1, 0)),  # mtime before 1970 next to the largest inode
        ((1, 0, 0, 0), (0, 2**63 - 1, 2**64 - 1, 0)),
        ((0, 0, 1, -1), (0, 0, 0, 2**63 - 1)),  # ctime before 1970 next to the largest ctime
    ],
)
def test_versions_of_different_files_differ(a, b) -> None:
    assert file_version(*a) != file_version(*b)
    assert file_version(*a) == file_version(*a)


def test_seen_compares_size_mtime_inode_and_ctime(outbox: Outbox) -> None:
    outbox.emit([event("f", 10, 20, 30)])
    assert outbox.is_seen("s", "f", v(10, 20, 30))
    for other in ((11, 20, 30), (10, 21, 30), (10, 20, 31)):
        assert not outbox.is_seen("s", "f", v(*other))
    assert not outbox.is_seen("s", "f", v(10, 20, 30, CTIME_NS + 1))


LEGACY_SEEN = """
CREATE TABLE seen (
    source TEXT NOT NULL, relpath BLOB NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, dedup_key BLOB NOT NULL,
    emitted_at REAL NOT NULL, PRIMARY KEY (source, relpath)
) WITHOUT ROWID;
"""


def test_an_index_from_before_the_ctime_keeps_unchanged_files_seen(tmp_path: Path) -> None:
    # given the seen index of an older watcher (no ctime) for two files, one changed since
    root = tmp_path / "root"
    root.mkdir()
    (root / "same.bin").write_bytes(b"v1")
    (root / "changed.bin").write_bytes(b"v1")
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "watcher.sqlite")
    db.executescript(LEGACY_SEEN)
    for name in ("same.bin", "changed.bin"):
        st = (root / name).stat()
        db.execute(
            "INSERT INTO seen VALUES ('s', ?, ?, ?, ?, x'00', 0)",
            (name.encode(), st.st_size, st.st_mtime_ns, st.st_ino),
        )
    db.commit()
    db.close()
    (root / "changed.bin").write_bytes(b"v2")

    # when a new watcher opens it and adopts the rows
    box = Outbox(state)
    try:
        assert box.adopt_legacy("s", str(root)) == 1

        # then the unchanged file is seen in its current version, the changed one is not
        assert box.is_seen("s", "same.bin", stat_version((root / "same.bin").stat()))
        assert not box.is_seen("s", "changed.bin", stat_version((root / "changed.bin").stat()))
        assert box.adopt_legacy("s", str(root)) == 0  # once per source
    finally:
        box.close()
