"""The reconcile walk over real directories."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filerelay.config.models import Source
from filerelay.watcher.filters import PathFilter
from filerelay.watcher.scan import TreeWalk


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
