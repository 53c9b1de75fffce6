"""The move action: rename, cross-filesystem copy + unlink, conflicts, retries, undo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from filerelay.actions.base import Resources
from filerelay.actions.fs.move import MoveAction, MoveConfig
from filerelay.actions.fs.ops import TMP_SUFFIX
from filerelay.errors import FileVanishedError, PermanentError
from tests.actions.helpers import make_context, make_event, write_file

OLD_MTIME_NS = 1_600_000_000_000_000_000


def move_action(to: str, **config: Any) -> MoveAction:
    return MoveAction(MoveConfig(to=to, **config), Resources())


def source_file(src: Path, rel: str = "sub/a.txt", data: bytes = b"payload\n") -> Path:
    path = write_file(src / rel, data)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return path


def test_moves_within_a_filesystem_keeping_the_inode(src: Path, dst: Path) -> None:
    path = source_file(src)
    inode = path.stat().st_ino
    result = move_action(f"{dst}/{{relpath}}").run(make_context(make_event(path, src)))
    out = dst / "sub" / "a.txt"
    assert result == {"path": str(out), "from": str(path), "moved": True, "skipped": False}
    assert not path.exists() and out.read_bytes() == b"payload\n"
    assert out.stat().st_ino == inode


def test_retry_after_the_move_is_already_done(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src)
    action = move_action(f"{dst}/{{relpath}}")
    action.run(make_context(event))
    again = action.run(make_context(event, attempt=2))
    assert again == {
        "path": str(dst / "sub" / "a.txt"),
        "from": str(path),
        "moved": True,  # this step moved it (on the earlier attempt): compensation moves it back
        "skipped": False,
    }
    action.compensate(make_context(event, attempt=3), again)
    assert path.exists() and not (dst / "sub" / "a.txt").exists()


def test_retry_after_a_crash_between_link_and_unlink_finishes(src: Path, dst: Path) -> None:
    path = source_file(src)
    (dst / "sub").mkdir(parents=True)
    os.link(path, dst / "sub" / "a.txt")  # the earlier attempt got this far
    result = move_action(f"{dst}/{{relpath}}").run(make_context(make_event(path, src)))
    assert result["moved"] is True and not path.exists()
    assert (dst / "sub" / "a.txt").read_bytes() == b"payload\n"


def test_gone_source_and_no_destination_is_vanished(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src)
    path.unlink()
    with pytest.raises(FileVanishedError):
        move_action(f"{dst}/{{relpath}}").run(make_context(event))


def test_conflict_fail(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"other")
    with pytest.raises(PermanentError, match="different content"):
        move_action(f"{dst}/{{relpath}}").run(make_context(make_event(path, src)))
    assert path.exists() and (dst / "sub" / "a.txt").read_bytes() == b"other"


def test_conflict_skip_leaves_the_file_in_place(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"other")
    action = move_action(f"{dst}/{{relpath}}", on_conflict="skip")
    result = action.run(make_context(make_event(path, src)))
    assert result == {"path": str(path), "from": str(path), "moved": False, "skipped": True}
    assert path.exists()


def test_conflict_overwrite(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"other")
    action = move_action(f"{dst}/{{relpath}}", on_conflict="overwrite")
    assert action.run(make_context(make_event(path, src)))["moved"] is True
    assert (dst / "sub" / "a.txt").read_bytes() == b"payload\n" and not path.exists()


def test_conflict_rename_and_its_retry(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"other")
    event = make_event(path, src)
    action = move_action(f"{dst}/{{relpath}}", on_conflict="rename")
    result = action.run(make_context(event))
    assert result["path"] == str(dst / "sub" / "a (1).txt")
    again = action.run(make_context(event, attempt=2))
    assert again["path"] == result["path"] and again["moved"] is True


def test_destination_escaping_its_root_is_permanent(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src).model_copy(update={"relpath": "../../../etc/x"})
    with pytest.raises(PermanentError, match="escapes its root"):
        move_action(f"{dst}/{{relpath}}").run(make_context(event))
    assert path.exists()


def test_compensate_moves_it_back(src: Path, dst: Path) -> None:
    path = source_file(src)
    ctx = make_context(make_event(path, src))
    action = move_action(f"{dst}/{{relpath}}")
    result = action.run(ctx)
    action.compensate(ctx, result)
    assert path.read_bytes() == b"payload\n" and not (dst / "sub" / "a.txt").exists()
    action.compensate(ctx, result)  # nothing left to do: fine


def test_compensate_leaves_a_reoccupied_original_path(src: Path, dst: Path) -> None:
    path = source_file(src)
    ctx = make_context(make_event(path, src))
    action = move_action(f"{dst}/{{relpath}}")
    result = action.run(ctx)
    path.write_bytes(b"a new file version")
    action.compensate(ctx, result)
    assert path.read_bytes() == b"a new file version"
    assert (dst / "sub" / "a.txt").read_bytes() == b"payload\n"


def test_move_across_filesystems(src: Path, other_fs: Path) -> None:
    path = source_file(src)
    ctx = make_context(make_event(path, src))
    action = move_action(f"{other_fs}/{{relpath}}")
    result = action.run(ctx)
    out = other_fs / "sub" / "a.txt"
    assert result["moved"] is True and not path.exists()
    assert out.read_bytes() == b"payload\n" and out.stat().st_mtime_ns == OLD_MTIME_NS
    assert [p.name for p in out.parent.iterdir()] == ["a.txt"]
    # and back again across the filesystems
    action.compensate(ctx, result)
    assert path.read_bytes() == b"payload\n" and not out.exists()


def test_move_across_filesystems_after_a_crash_before_unlink(src: Path, other_fs: Path) -> None:
    path = source_file(src)
    write_file(other_fs / "sub" / "a.txt", b"payload\n")  # the copy was done, unlink was not
    result = move_action(f"{other_fs}/{{relpath}}").run(make_context(make_event(path, src)))
    assert result["moved"] is True and not path.exists()


def test_move_across_to_a_full_filesystem_keeps_the_source(src: Path, tiny_tmpfs: Path) -> None:
    path = write_file(src / "big.bin", os.urandom(2 * 1024 * 1024))
    with pytest.raises(PermanentError, match="no space left on device writing"):
        move_action(f"{tiny_tmpfs}/{{name}}").run(make_context(make_event(path, src)))
    assert path.exists()
    assert [p for p in tiny_tmpfs.iterdir() if p.name.endswith(TMP_SUFFIX) or p.is_file()] == []
