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
        assert check([key(path)]).held == {key(path)}
    assert check([key(path)]).held == set()


def test_read_write_counts_read_only_does_not(tmp_path: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.write_bytes(b"1")
    ro.write_bytes(b"2")
    check = ProcWriters()
    with rw.open("r+b"), ro.open("rb"):
        assert check([key(rw), key(ro)]).held == {key(rw)}


def test_only_the_asked_files_are_reported(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    with a.open("wb"), b.open("wb"):
        assert ProcWriters()([key(a)]).held == {key(a)}


def test_no_files_asked_scans_nothing(tmp_path: Path) -> None:
    assert ProcWriters(proc_root=str(tmp_path / "nope"))([]).held == set()


def test_unreadable_proc_is_a_blind_check(tmp_path: Path) -> None:
    path = tmp_path / "f"
    check = ProcWriters(proc_root=str(tmp_path / "no-proc"))
    with path.open("wb"):
        scan = check([key(path)])
    assert scan.held == set() and not scan.complete
    assert check.blind_spot() == f"{tmp_path / 'no-proc'} cannot be read"


def test_the_start_up_probe_and_a_scan_agree_on_what_they_see(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    check = ProcWriters()
    assert (check.blind_spot() is None) == check([key(path)]).complete
