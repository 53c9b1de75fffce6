"""The archive action on real directories: formats, idempotency, conflicts, disk full, undo."""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from filerelay.actions.base import Resources
from filerelay.actions.fs.archive import ArchiveAction, ArchiveConfig
from filerelay.actions.fs.archive_formats import read_member
from filerelay.actions.fs.ops import TMP_SUFFIX
from filerelay.errors import FileVanishedError, PermanentError
from tests.actions.helpers import make_context, make_event, write_file

# 2020-09-13 12:26:40.123456789 UTC; an even second for zip's 2-second local timestamps
MTIME_NS = 1_600_000_000_123_456_789
DATA = b"col1,col2\n" + b"1,2\n" * 1000
FORMATS = ["zip", "tar.gz"]
EXT = {"zip": ".zip", "tar.gz": ".tar.gz"}


def source_file(src: Path, rel: str = "sub/data.csv", data: bytes = DATA) -> Path:
    path = write_file(src / rel, data)
    os.chmod(path, 0o640)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return path


def archive(to: str, fmt: str = "zip", **config: Any) -> ArchiveAction:
    return ArchiveAction(ArchiveConfig(to=to, format=fmt, **config), Resources())


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(TMP_SUFFIX))


def test_zip_round_trip(src: Path, dst: Path) -> None:
    # given a file with a known mtime and mode
    path = source_file(src)
    # when it is archived as zip
    result = archive(f"{dst}/{{relpath}}.zip", "zip").run(make_context(make_event(path, src)))
    out = dst / "sub" / "data.csv.zip"
    # then the zip holds exactly the file, under its name, with its mtime and mode
    with zipfile.ZipFile(out) as zf:
        (info,) = zf.infolist()
        assert info.filename == "data.csv" and zf.read(info) == DATA
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.date_time == time.localtime(MTIME_NS // 10**9)[:6]
        assert (info.external_attr >> 16) & 0o777 == 0o640
    assert result == {
        "path": str(out),
        "format": "zip",
        "size": out.stat().st_size,
        "member": "data.csv",
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "created": True,
        "skipped": False,
        "owned": True,
        "source_removed": False,
    }
    assert out.stat().st_size < len(DATA)  # compressed
    assert path.exists() and leftovers(dst) == []


def test_tar_gz_round_trip(src: Path, dst: Path) -> None:
    path = source_file(src)
    result = archive(f"{dst}/{{relpath}}.tar.gz", "tar.gz", compression_level=9).run(
        make_context(make_event(path, src))
    )
    out = dst / "sub" / "data.csv.tar.gz"
    with tarfile.open(out, "r:gz") as tar:
        (member,) = tar.getmembers()
        assert member.name == "data.csv" and member.isreg()
        assert tar.extractfile(member).read() == DATA
        assert member.mode == 0o640
        assert abs(member.mtime - MTIME_NS / 1e9) < 1e-6  # pax keeps sub-second mtime
    assert result["format"] == "tar.gz" and result["created"] is True
    assert result["size"] == out.stat().st_size
    assert b"filerelay-tmp" not in out.read_bytes()[:64]  # no temp name in the gzip header


@pytest.mark.parametrize("fmt", FORMATS)
def test_second_run_is_idempotent(src: Path, dst: Path, fmt: str) -> None:
    # given a file already archived by this step
    path = source_file(src)
    action = archive(f"{dst}/{{name}}{EXT[fmt]}", fmt)
    first = action.run(make_context(make_event(path, src)))
    before = Path(first["path"]).stat()
    # when the step runs again (a retry)
    again = action.run(make_context(make_event(path, src), attempt=2))
    # then nothing is rewritten and the archive is recognised as this step's
    assert again["created"] is False and again["owned"] is True and again["skipped"] is False
    assert again["sha256"] == first["sha256"]
    after = Path(first["path"]).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in dst.iterdir()) == [f"data.csv{EXT[fmt]}"]


def test_same_archive_from_elsewhere_is_success_but_not_owned(src: Path, dst: Path) -> None:
    # given an identical archive written by another route's step
    path = source_file(src)
    to = f"{dst}/{{name}}.zip"
    archive(to).run(make_context(make_event(path, src), route="other"))
    # when this route archives the same file
    result = archive(to).run(make_context(make_event(path, src)))
    # then it is success without a write, and compensate would not remove it
    assert result["created"] is False and result["owned"] is False
    archive(to).compensate(make_context(make_event(path, src)), result)
    assert Path(result["path"]).exists()


def test_conflict_fail(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "data.csv.zip", b"not ours")
    with pytest.raises(PermanentError, match=r"different content.*data\.csv\.zip"):
        archive(f"{dst}/{{name}}.zip").run(make_context(make_event(path, src)))
    assert (dst / "data.csv.zip").read_bytes() == b"not ours"


def test_conflict_skip_keeps_the_source(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "data.csv.zip", b"not ours")
    action = archive(f"{dst}/{{name}}.zip", on_conflict="skip", remove_source=True)
    result = action.run(make_context(make_event(path, src)))
    assert result["skipped"] is True and result["created"] is False
    assert result["source_removed"] is False and path.exists()
    assert (dst / "data.csv.zip").read_bytes() == b"not ours"


def test_conflict_overwrite(src: Path, dst: Path) -> None:
    path = source_file(src)
    write_file(dst / "data.csv.zip", b"not ours")
    action = archive(f"{dst}/{{name}}.zip", on_conflict="overwrite")
    assert action.run(make_context(make_event(path, src)))["created"] is True
    with zipfile.ZipFile(dst / "data.csv.zip") as zf:
        assert zf.read("data.csv") == DATA


def test_conflict_rename_and_its_retry(src: Path, dst: Path) -> None:
    # given a different archive in the way
    path = source_file(src)
    write_file(dst / "data.csv.zip", b"not ours")
    action = archive(f"{dst}/{{name}}.zip", on_conflict="rename")
    # when archived with on_conflict rename, twice
    first = action.run(make_context(make_event(path, src)))
    again = action.run(make_context(make_event(path, src), attempt=2))
    # then the archive went to the next free name, and the retry found it there
    assert first["path"] == str(dst / "data.csv (1).zip") and first["created"] is True
    assert again["path"] == first["path"] and again["created"] is False
    assert (dst / "data.csv.zip").read_bytes() == b"not ours"


def test_escaping_destination_is_rejected(src: Path, dst: Path) -> None:
    path = source_file(src, "x.csv")
    event = make_event(path, src).model_copy(update={"relpath": "../../etc/x.csv"})
    with pytest.raises(PermanentError, match="escapes its root"):
        archive(f"{dst}/{{relpath}}.zip").run(make_context(event))
    assert not dst.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_remove_source_then_compensate_restores_it(src: Path, dst: Path, fmt: str) -> None:
    # given a file archived with remove_source
    path = source_file(src)
    action = archive(f"{dst}/{{relpath}}{EXT[fmt]}", fmt, remove_source=True)
    event = make_event(path, src)
    result = action.run(make_context(event))
    assert result["source_removed"] is True and not path.exists()
    # when the step is compensated (a later step failed for good)
    action.compensate(make_context(event), result)
    # then the source is back, byte for byte, with its mtime and mode; the archive is gone
    assert path.read_bytes() == DATA
    assert path.stat().st_mtime_ns == MTIME_NS
    assert path.stat().st_mode & 0o777 == 0o640
    assert not Path(result["path"]).exists()
    assert leftovers(src) == [] and leftovers(dst) == []
    # and compensating again changes nothing
    action.compensate(make_context(event), result)
    assert path.read_bytes() == DATA


def test_retry_after_the_source_was_removed_succeeds(src: Path, dst: Path) -> None:
    # given an attempt that archived and removed the source, then died before reporting
    path = source_file(src)
    action = archive(f"{dst}/{{name}}.tar.gz", "tar.gz", remove_source=True)
    event = make_event(path, src)
    action.run(make_context(event))
    # when the step is retried
    again = action.run(make_context(event, attempt=2))
    # then the retry succeeds from the archive it finds, and compensation still restores
    assert again["created"] is False and again["owned"] is True
    assert again["source_removed"] is True
    assert again["sha256"] == hashlib.sha256(DATA).hexdigest()
    action.compensate(make_context(event), again)
    assert path.read_bytes() == DATA and not Path(again["path"]).exists()


def test_vanished_source_without_our_archive_fails(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src)
    path.unlink()
    with pytest.raises(FileVanishedError):
        archive(f"{dst}/{{name}}.zip", remove_source=True).run(make_context(event))


def test_compensate_keeps_the_archive_when_the_source_path_is_taken(src: Path, dst: Path) -> None:
    # given a removed source whose path now holds a new file
    path = source_file(src)
    action = archive(f"{dst}/{{name}}.zip", remove_source=True)
    event = make_event(path, src)
    result = action.run(make_context(event))
    write_file(path, b"a newer version")
    # when compensated, then the newer file is untouched and the archive (the only copy of
    # the archived version) stays
    action.compensate(make_context(event), result)
    assert path.read_bytes() == b"a newer version"
    assert Path(result["path"]).exists()


def test_compensate_removes_only_our_archive(src: Path, dst: Path) -> None:
    path = source_file(src)
    action = archive(f"{dst}/{{name}}.zip")
    event = make_event(path, src)
    result = action.run(make_context(event))
    write_file(Path(result["path"]), b"replaced by someone")
    action.compensate(make_context(event), result)
    assert Path(result["path"]).read_bytes() == b"replaced by someone"


def test_changed_source_is_not_archived(src: Path, dst: Path) -> None:
    path = source_file(src)
    event = make_event(path, src)
    write_file(path, DATA + b"more")
    with pytest.raises(PermanentError, match="changed since"):
        archive(f"{dst}/{{name}}.zip").run(make_context(event))
    assert not (dst / "data.csv.zip").exists() and leftovers(dst) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_disk_full_leaves_no_partial_file(src: Path, tiny_tmpfs: Path, fmt: str) -> None:
    # given a 2 MiB incompressible file and a 1 MiB filesystem as destination
    path = source_file(src, "big.bin", os.urandom(2 * 1024 * 1024))
    action = archive(f"{tiny_tmpfs}/{{name}}{EXT[fmt]}", fmt, remove_source=True)
    # when archived there, then the step fails for good with a clear message
    dest = tiny_tmpfs / f"big.bin{EXT[fmt]}"
    with pytest.raises(PermanentError, match=f"no space left on device writing {dest}$"):
        action.run(make_context(make_event(path, src)))
    # and nothing is left on the full filesystem, and the source is kept
    assert list(tiny_tmpfs.iterdir()) == []
    assert path.exists()


def test_read_member_ignores_what_is_not_a_one_file_archive(tmp_path: Path) -> None:
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a", b"a")
        zf.writestr("b", b"b")
    junk = write_file(tmp_path / "junk.tar.gz", b"\x1f\x8b not really")
    with two.open("rb") as fh:
        assert read_member(fh, "zip") is None
    with junk.open("rb") as fh:
        assert read_member(fh, "tar.gz") is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"to": "/a/{name}.7z", "format": "7z"}, "'zip' or 'tar.gz'"),
        ({"to": "/a/{name}.zip", "compression_level": 10}, "less than or equal to 9"),
        ({"to": "/a/{nope}.zip"}, "unknown field"),
        ({"to": "/a/{name}.zip", "on_conflict": "merge"}, "'fail', 'skip', 'overwrite'"),
        ({"to": "/a/{name}.zip", "delete_source": True}, "Extra inputs are not permitted"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ArchiveConfig(**config)
