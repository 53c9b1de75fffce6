"""The reconcile walk over real directories."""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filerelay.config.models import Source
from filerelay.model import StableSignal
from filerelay.watcher.events import build_event
from filerelay.watcher.filters import PathFilter, download_target
from filerelay.watcher.outbox import Outbox
from filerelay.watcher.rules import StabilityRules, StableFile
from filerelay.watcher.scan import TreeWalk
from filerelay.watcher.source_watch import SourceWatch
from filerelay.watcher.stability import StabilityDetector
from filerelay.watcher.version import stat_version
from tests.watcher.fakes import FakeClock, FakeWriters


def walk(root: Path, start: Path | None = None, **settings: Any) -> dict[str, os.stat_result]:
    flt = PathFilter(Source(name="s", path=root, **settings))
    return dict(TreeWalk(str(root), flt, start=str(start) if start else None))


def test_walk_yields_relpaths_and_stats(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "top.csv").write_bytes(b"12345")
    (tmp_path / "a" / "b" / "deep.csv").write_bytes(b"1")
    (tmp_path / "a" / "x.tmp").write_bytes(b"")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "h.csv").write_bytes(b"")

    found = walk(tmp_path)
    assert sorted(found) == ["a/b/deep.csv", "top.csv"]
    assert found["top.csv"].st_size == 5


def test_walk_keeps_odd_names_exactly(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9 \xff.bin"  # not UTF-8
    with open(raw, "wb") as fh:
        fh.write(b"x")
    (tmp_path / "new\nline.csv").write_bytes(b"")
    (tmp_path / "with space").mkdir()
    (tmp_path / "with space" / "a b.csv").write_bytes(b"")

    found = walk(tmp_path)
    odd = os.fsdecode(b"caf\xe9 \xff.bin")
    assert set(found) == {odd, "new\nline.csv", "with space/a b.csv"}
    assert os.path.exists(os.path.join(str(tmp_path), odd))  # round-trips to the same file


def test_walk_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.csv").write_bytes(b"")
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.csv").write_bytes(b"")
    (root / "link-dir").symlink_to(outside)
    (root / "loop").symlink_to(root)
    (root / "link-file.csv").symlink_to(root / "d" / "f.csv")

    assert sorted(walk(root)) == ["d/f.csv"]


def test_walk_below_a_start_directory(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.csv").write_bytes(b"")
    (tmp_path / "y.csv").write_bytes(b"")
    assert sorted(walk(tmp_path, start=tmp_path / "a")) == ["a/b/x.csv"]
    (tmp_path / ".h" / "c").mkdir(parents=True)
    (tmp_path / ".h" / "c" / "z.csv").write_bytes(b"")
    assert walk(tmp_path, start=tmp_path / ".h" / "c") == {}


def test_walk_of_a_non_recursive_source_stays_at_the_top(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.csv").write_bytes(b"")
    (tmp_path / "y.csv").write_bytes(b"")
    assert sorted(walk(tmp_path, recursive=False)) == ["y.csv"]


def test_unreadable_directory_is_skipped_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "x.csv").write_bytes(b"")
    (tmp_path / "ok.csv").write_bytes(b"")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:  # root cannot be locked out by permissions; simulate it
        if str(path).endswith("/locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    flt = PathFilter(Source(name="s", path=tmp_path))
    tw = TreeWalk(str(tmp_path), flt)
    assert [rel for rel, _st in tw] == ["ok.csv"]
    assert tw.skipped_dirs == 1
    assert not tw.complete


def test_walk_of_a_missing_root_yields_nothing(tmp_path: Path) -> None:
    flt = PathFilter(Source(name="s", path=tmp_path))
    assert list(TreeWalk(str(tmp_path / "gone"), flt)) == []


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs directory when there is one: creating 100k files on a busy disk is the slow
    part of the test, not the walk it measures."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="filerelay-walk-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow  # 100k files
def test_walk_of_100k_files_takes_about_a_second(fast_tmp: Path) -> None:
    tmp_path = fast_tmp
    for d in range(100):
        sub = f"{tmp_path}/d{d:02d}"
        os.mkdir(sub)
        for i in range(1000):
            os.close(os.open(f"{sub}/f{i:04d}.csv", os.O_CREAT | os.O_WRONLY, 0o644))
    flt = PathFilter(Source(name="s", path=tmp_path, include=["*.csv"]))
    started = time.perf_counter()
    count = sum(1 for _ in TreeWalk(str(tmp_path), flt))
    elapsed = time.perf_counter() - started
    assert count == 100_000
    assert elapsed < 3.0, f"walk took {elapsed:.2f}s"


# --- the walk a directory at a time, and what a source's scan makes of it ---------------------

TREE = [
    "a.csv", "b.log", "top.csv", ".h.csv", "x.tmp", "x.part", "x", "#auto#", "a.csv.done",
    "sub/d.csv", "sub/e.part", "sub/e", "sub/.hid/c.csv", "sub/deeper/f.csv", "sub/deeper/g.jpg",
    "archive/old.csv", "archive/keep.log", "in/a/b.json", ".git/config", "big/file",
    "big/deeper/file", "caf\udce9/r\u00e9sum\u00e9 1.pdf", "line\nbreak.csv",
]  # fmt: skip

WALK_SETTINGS: list[dict[str, Any]] = [
    {},
    {"include": ["*.csv", "*.log"], "exclude": ["archive/**"]},
    {"include": ["**/*.jpg", "in/**"], "exclude": ["big/*"]},
    {"include_hidden": True, "ready_marker": "{name}.done"},
    {"recursive": False},
]


def make_tree(root: Path, relpaths: list[str] = TREE) -> list[str]:
    for rel in relpaths:
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(rel.encode("utf-8", "surrogateescape"))
    (root / "link.csv").symlink_to(root / "a.csv")
    os.mkfifo(root / "fifo.part")
    return relpaths


@pytest.mark.parametrize("settings", WALK_SETTINGS, ids=str)
def test_walk_takes_exactly_the_files_the_path_filter_takes(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    # given a tree of every kind of name, with and without include/exclude globs
    every = make_tree(tmp_path)
    flt = PathFilter(Source(name="s", path=tmp_path, **settings))
    # when walked, a directory at a time and a file at a time
    tw = TreeWalk(str(tmp_path), flt)
    batches = [
        (reldir + name, st)
        for reldir, names, stats in tw.batches()
        for name, st in zip(names, stats, strict=True)
    ]
    files = list(TreeWalk(str(tmp_path), flt))
    # then both take the same files, in the same order: those the path filter takes
    assert [rel for rel, _st in batches] == [rel for rel, _st in files]
    assert sorted(rel for rel, _st in files) == sorted(r for r in every if flt(r))
    assert all(os.path.samestat(st, os.lstat(tmp_path / rel)) for rel, st in files)
    assert tw.files == len(files)
    # and both find the partial downloads in the directories they read
    partials = {"x.part", "fifo.part", "sub/e.part"} if flt.recursive else {"x.part", "fifo.part"}
    assert set(tw.partials) == partials


def emit(outbox: Outbox, source: Source, root: Path, relpath: str) -> None:
    st = os.lstat(root / relpath)
    stable = StableFile(str(root / relpath), st, StableSignal.SCAN, 0.0)
    assert outbox.emit([build_event(source, stable, relpath, host="h", now=time.time())]) == 1


def reference_scan(
    sw: SourceWatch, detector: StabilityDetector, outbox: Outbox, missing: set[str], now: float
) -> None:
    """The scan as it was before its per-directory batches: one touch per file."""
    walk = TreeWalk(sw.root, sw.filter, source=sw.name)
    seen = outbox.seen_versions(sw.name).get
    found = missing.discard if missing else None
    for rel, st in walk:
        if found is not None:
            found(rel)
        version = seen(rel)
        if version is None or version != stat_version(st):
            detector.touch(f"{sw.root}/{rel}", scan=True, st=st, now=now)
    for rel in walk.partials:
        if (target := download_target(f"{sw.root}/{rel}")) is not None:
            detector.partial_seen(target)


def outcome(
    detector: StabilityDetector, clock: FakeClock, root: Path
) -> tuple[list[tuple[str, str, float, int]], list[str]]:
    """What the detector reports, poll by poll, until its files' windows are over; and the
    files still held then (a partial download beside them, no ready marker)."""
    reported = []
    for _ in range(20):
        for sf in detector.poll(limit=7):  # several polls: the walk order shows
            reported.append((sf.path, sf.signal.value, sf.pending_since, stat_version(sf.stat)))
        clock.advance(5.0)
    return reported, sorted(str(path) for path in root.rglob("*") if str(path) in detector)


@pytest.mark.parametrize("silence_s", [0.5, 20.0], ids=["found-quiet", "found-young"])
@pytest.mark.parametrize("settings", WALK_SETTINGS, ids=str)
def test_scan_of_a_source_pends_what_a_touch_per_file_did(
    tmp_path: Path, settings: dict[str, Any], silence_s: float
) -> None:
    # given a tree, two files of it emitted (one changed since), one pending from an event,
    # and a seen file gone
    root = tmp_path / "tree"
    make_tree(root)
    source = Source(name="s", path=root, silence=silence_s, stable_when="silence", **settings)
    outbox = Outbox(tmp_path / "state")
    emit(outbox, source, root, "a.csv")
    emit(outbox, source, root, "top.csv")
    (root / "top.csv").write_bytes(b"changed")
    start = time.time() + 10.0
    clock, clock_ref = FakeClock(start), FakeClock(start)
    sw = SourceWatch(source, queue.SimpleQueue(), clock=clock, writer_check=FakeWriters())
    reference = StabilityDetector(
        StabilityRules.from_source(source), clock=clock_ref, writers=FakeWriters(), root=sw.root
    )
    for detector in (sw.detector, reference):
        detector.touch(f"{sw.root}/sub/d.csv")
    missing, missing_ref = {"gone.csv", "a.csv", "top.csv"}, {"gone.csv", "a.csv", "top.csv"}
    # when the source's scan walks it, and the scan as it was walks it
    walk = sw.scan(outbox, missing=missing)
    reference_scan(sw, reference, outbox, missing_ref, start)
    # then both leave the same files pending and report the same, in the same order
    assert walk.files > 0
    assert missing == missing_ref
    assert len(sw.detector) == len(reference)
    assert outcome(sw.detector, clock, root) == outcome(reference, clock_ref, root)
    outbox.close()
