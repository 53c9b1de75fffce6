"""The copy action on real directories: atomicity, conflicts, idempotency, disk full."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from filerelay.actions.base import Resources
from filerelay.actions.fs.config import umask
from filerelay.actions.fs.copy import CopyAction, CopyConfig
from filerelay.actions.fs.destinations import static_root
from filerelay.actions.fs.ops import TMP_SUFFIX
from filerelay.errors import FileVanishedError, PermanentError
from tests.actions.helpers import make_context, make_event, write_file

OLD_MTIME_NS = 1_600_000_000_123_456_789


def copy_action(to: str, **config: Any) -> CopyAction:
    return CopyAction(CopyConfig(to=to, **config), Resources())


def source_file(src: Path, rel: str = "sub/a.txt", data: bytes = b"payload\n") -> Path:
    path = write_file(src / rel, data)
    os.chmod(path, 0o640)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(TMP_SUFFIX))


def test_copies_bytes_and_mtime_with_the_umask_mode(src: Path, dst: Path) -> None:
    path = source_file(src)
    result = copy_action(f"{dst}/{{relpath}}").run(make_context(make_event(path, src)))
    out = dst / "sub" / "a.txt"
    assert out.read_bytes() == b"payload\n"
    assert out.stat().st_mtime_ns == OLD_MTIME_NS
    assert out.stat().st_mode & 0o7777 == 0o666 & ~umask()
    assert result == {
        "path": str(out),
        "size": 8,
        "sha256": hashlib.sha256(b"payload\n").hexdigest(),
        "copied": True,
        "skipped": False,
    }
    assert path.exists() and leftovers(dst) == []


def test_rerun_is_idempotent(src: Path, dst: Path) -> None:
    path = source_file(src)
    action = copy_action(f"{dst}/{{relpath}}")
    action.run(make_context(make_event(path, src)))
    again = action.run(make_context(make_event(path, src), attempt=2))
    assert again["copied"] is False and again["skipped"] is False
    assert sorted(p.name for p in (dst / "sub").iterdir()) == ["a.txt"]


def test_conflict_fail(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"someone else's")
    with pytest.raises(PermanentError, match=r"different content.*a\.txt"):
        copy_action(f"{dst}/{{relpath}}").run(make_context(make_event(path, src)))
    assert (dst / "sub" / "a.txt").read_bytes() == b"someone else's"


def test_conflict_skip(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"someone else's")
    action = copy_action(f"{dst}/{{relpath}}", on_conflict="skip")
    result = action.run(make_context(make_event(path, src)))
    assert result["copied"] is False and result["skipped"] is True
    assert (dst / "sub" / "a.txt").read_bytes() == b"someone else's"


def test_conflict_overwrite(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"someone else's")
    action = copy_action(f"{dst}/{{relpath}}", on_conflict="overwrite")
    assert action.run(make_context(make_event(path, src)))["copied"] is True
    assert (dst / "sub" / "a.txt").read_bytes() == b"payload\n"
    assert leftovers(dst) == []


def test_conflict_rename_picks_the_next_free_name_and_reruns_idempotently(
    src: Path, dst: Path
) -> None:
    path = source_file(src)
    write_file(dst / "sub" / "a.txt", b"first")
    write_file(dst / "sub" / "a (1).txt", b"second")
    action = copy_action(f"{dst}/{{relpath}}", on_conflict="rename")
    result = action.run(make_context(make_event(path, src)))
    assert result["path"] == str(dst / "sub" / "a (2).txt") and result["copied"] is True
    assert (dst / "sub" / "a (2).txt").read_bytes() == b"payload\n"
    again = action.run(make_context(make_event(path, src), attempt=2))
    assert again["path"] == result["path"] and again["copied"] is False
    assert not (dst / "sub" / "a (3).txt").exists()


def test_destination_escaping_its_root_is_permanent(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src, tags={"sub": "../.."})
    with pytest.raises(PermanentError, match=r"escapes its root"):
        copy_action(f"{dst}/{{tags.sub}}/{{name}}").run(make_context(event))
    assert not dst.exists()


def test_relative_template_is_relative_to_the_working_directory(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = source_file(src)
    result = copy_action("out/{source}/{name}").run(make_context(make_event(path, src)))
    assert result["path"] == str(tmp_path / "out" / "src" / "a.txt")


def test_static_root() -> None:
    assert static_root("/data/done/{relpath}") == "/data/done"
    assert static_root("/data/done/x-{name}") == "/data/done"
    assert static_root("out/{source}/{name}") == "out"
    assert static_root("{relpath}") == ""
    assert static_root("/data/fixed.txt") == "/data"


def test_compensate_removes_only_the_copy_this_step_made(src: Path, dst: Path) -> None:
    path = source_file(src)
    action = copy_action(f"{dst}/{{relpath}}")
    ctx = make_context(make_event(path, src))
    result = action.run(ctx)
    # a result with copied: false (someone else's identical file) is left alone
    action.compensate(ctx, {**result, "copied": False})
    assert (dst / "sub" / "a.txt").exists()
    action.compensate(ctx, result)
    assert not (dst / "sub" / "a.txt").exists() and path.exists()
    action.compensate(ctx, result)  # already gone: fine


def test_compensate_keeps_a_file_changed_since(src: Path, dst: Path) -> None:
    path = source_file(src)
    action = copy_action(f"{dst}/{{relpath}}")
    ctx = make_context(make_event(path, src))
    result = action.run(ctx)
    (dst / "sub" / "a.txt").write_bytes(b"new writer")
    action.compensate(ctx, result)
    assert (dst / "sub" / "a.txt").read_bytes() == b"new writer"


def test_vanished_source(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src)
    path.unlink()
    with pytest.raises(FileVanishedError):
        copy_action(f"{dst}/{{relpath}}").run(make_context(event))


def test_source_changed_since_stable_is_permanent(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src)
    path.write_bytes(b"longer payload now\n")
    with pytest.raises(PermanentError, match="changed"):
        copy_action(f"{dst}/{{relpath}}").run(make_context(event))
    assert not (dst / "sub" / "a.txt").exists()


def test_disk_full_leaves_no_partial_or_temp_file(src: Path, tiny_tmpfs: Path) -> None:
    # given a 2 MiB file and a 1 MiB filesystem
    path = write_file(src / "big.bin", os.urandom(2 * 1024 * 1024))
    dest = tiny_tmpfs / "big.bin"
    # when it is copied there, then the step fails for good, saying why and where
    with pytest.raises(PermanentError, match=f"no space left on device writing {dest}"):
        copy_action(f"{tiny_tmpfs}/{{name}}").run(make_context(make_event(path, src)))
    # and nothing is left behind, not even the temp file
    assert list(tiny_tmpfs.iterdir()) == []


def test_config_rejects_unknown_keys_and_policies() -> None:
    with pytest.raises(ValidationError):
        CopyConfig.model_validate({"to": "/x/{name}", "on_conflict": "merge"})
    with pytest.raises(ValidationError):
        CopyConfig.model_validate({"to": "/x/{name}", "mode": "fast"})
    with pytest.raises(ValidationError, match="unknown field"):
        CopyConfig.model_validate({"to": "/x/{nope}"})
