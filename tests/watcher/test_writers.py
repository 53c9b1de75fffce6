"""The /proc open-for-writing check, against files this test process holds open."""

from __future__ import annotations

import os
from pathlib import Path

from filerelay.watcher.writers import ProcWriters


def key(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def test_file_open_for_writing_is_found_and_not_after_close(tmp_path: Path) -> None:
    path = tmp_path / "being-written.bin"
    check = ProcWriters()
    with path.open("wb") as fh:
        fh.write(b"x")
        assert check([key(path)]) == {key(path)}
    assert check([key(path)]) == set()


def test_read_write_counts_read_only_does_not(tmp_path: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.write_bytes(b"1")
    ro.write_bytes(b"2")
    check = ProcWriters()
    with rw.open("r+b"), ro.open("rb"):
        assert check([key(rw), key(ro)]) == {key(rw)}


def test_only_the_asked_files_are_reported(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    with a.open("wb"), b.open("wb"):
        assert ProcWriters()([key(a)]) == {key(a)}


def test_no_files_asked_scans_nothing(tmp_path: Path) -> None:
    assert ProcWriters(proc_root=str(tmp_path / "nope"))([]) == set()


def test_unreadable_proc_means_not_open(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with path.open("wb"):
        assert ProcWriters(proc_root=str(tmp_path / "no-proc"))([key(path)]) == set()
