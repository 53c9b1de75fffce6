"""The ``archive`` action: compress the file, alone, into a zip or tar.gz at a templated path.

The archive holds one member: the file under its own name, with its mtime (zip: local time
plus the UTC 'UT' extra field; tar: a pax header with nanoseconds) and permission bits. It is
written to a temp file next to the destination, fsynced and published with the shared
``place``/``publish`` code of copy and move (:mod:`filerelay.actions.fs.destinations`,
:mod:`filerelay.actions.fs.ops`): same ``to`` rendering and root check, same ``on_conflict``
policy, never a partial archive at the destination — a full disk fails the step for good and
leaves nothing behind.

Idempotent: an archive already at the destination holding the same single member (name, size,
SHA-256) is success with ``created: false``. Every archive is stamped with a digest of the
step's idempotency key (the zip comment; a pax ``comment`` record in a tar), so a retry and
``compensate`` can tell the archive this step wrote — in this attempt or an earlier one — from
anybody else's: after ``remove_source`` a retry that finds the source gone but its stamped
archive in place succeeds, and ``compensate`` restores the source from the archive before
removing it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import posixpath
import shutil
import stat
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field

from filerelay.actions.base import Action, ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.destinations import (
    ON_CONFLICT_HELP,
    OnConflict,
    Placement,
    place,
    rename_candidates,
    render_destination,
)
from filerelay.config.types import TemplateStr
from filerelay.errors import ActionError, FileVanishedError, PermanentError, RetryableError
from filerelay.model import JSONDict

ArchiveFormat = Literal["zip", "tar.gz"]
PLACEMENT_ATTEMPTS = 5
PAX_COMMENT = "comment"  # POSIX pax: a note every reader ignores
DEFAULT_MODE = 0o644
STAMP_PREFIX = "filerelay-step:"
ZIP_FIRST, ZIP_LAST = (1980, 1, 1, 0, 0, 0), (2107, 12, 31, 23, 59, 58)  # zip's date range
_UNREADABLE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


class ArchiveConfig(BaseModel):
    """Compress the file into a zip or tar.gz archive of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: TemplateStr = Field(
        description="Archive path template, e.g. '/data/archive/{relpath}.zip'; relative paths "
        "are relative to the working directory. The result must stay under the directory "
        "of the template's literal text before its first field.",
        examples=["/data/archive/{relpath}.zip", "/data/archive/{date:%Y/%m}/{name}.tar.gz"],
    )
    format: ArchiveFormat = Field(default="zip", description="Archive format: zip or tar.gz.")
    compression_level: int = Field(
        default=6, ge=0, le=9, description="Deflate/gzip level: 0 (none, fastest) to 9 (smallest)."
    )
    remove_source: bool = Field(
        default=False,
        description="Delete the file once its archive is durable (compensate restores it).",
    )
    on_conflict: OnConflict = Field(default="fail", description=ON_CONFLICT_HELP)
    fsync: bool = Field(
        default=True, description="fsync the archive and its directory before success."
    )


@dataclass(frozen=True)
class Member:
    """The single member of an archive we read back."""

    name: str
    size: int
    mode: int
    stamp: str | None
    sha256: str | None = None


class ArchiveAction(Action[ArchiveConfig]):
    """Archives the file; ``compensate`` restores a removed source and removes the archive
    this step wrote.

    Result: ``{path, format, size, member, sha256, created, skipped, owned, source_removed}``;
    ``size`` is the archive's size in bytes, ``sha256`` the source's; ``owned``: the archive
    at ``path`` was written by this step (this attempt or an earlier one).
    """

    name = "archive"
    Config = ArchiveConfig

    def run(self, ctx: ActionContext) -> JSONDict:
        dest = render_destination(ctx, self.config.to)
        if not fsops.exists(ctx.path):
            return self._already_archived(ctx, dest)
        ctx.check_unchanged()
        member, stamp = member_name(ctx), step_stamp(ctx.idempotency_key)
        for _ in range(PLACEMENT_ATTEMPTS):
            placement = place(dest, self.config.on_conflict, lambda p: self._same(ctx, p))
            if placement.decision == "skip":
                return self._result(ctx, dest, created=False, skipped=True, owned=False)
            if placement.decision == "same":
                owned = self._read(placement.path).stamp == stamp
                return self._finish(ctx, placement.path, created=False, owned=owned)
            try:
                self._write(ctx, placement, member, stamp)
            except FileExistsError:
                continue
            return self._finish(ctx, placement.path, created=True, owned=True)
        raise RetryableError(f"destination kept changing while archiving to {dest}")

    def _same(self, ctx: ActionContext, path: str) -> bool:
        """Whether ``path`` is an archive of exactly this file (name, size, SHA-256)."""
        found = self._read(path)
        if found.name != member_name(ctx) or found.size != ctx.event.size:
            return False
        return self._read(path, digest=True).sha256 == ctx.sha256()

    def _read(self, path: str, *, digest: bool = False) -> Member:
        return read_member(path, self.config.format, digest=digest) or Member("", -1, 0, None)

    def _write(self, ctx: ActionContext, placement: Placement, member: str, stamp: str) -> None:
        """Write the archive to a temp file and publish it; FileExistsError (raw) if the
        destination appeared meanwhile."""
        directory = os.path.dirname(placement.path)
        fsops.makedirs(directory)
        tmp = fsops.temp_path_for(placement.path)
        try:
            try:
                digest = write_archive(self.config, ctx.path, tmp, placement.path, member, stamp)
            except ActionError:
                ctx.check_unchanged()  # a file that changed under us explains it better
                raise
            # The bytes archived must be the version declared stable, not a torn newer write.
            ctx.check_unchanged()
            if ctx.event.sha256 and ctx.event.sha256 != digest:
                raise PermanentError(f"file content changed since it was hashed: {ctx.path}")
            fsops.publish(tmp, placement.path, overwrite=placement.decision == "overwrite")
        finally:
            _remove_quietly(tmp)  # after os.link the temp name is a second link to the archive
        if self.config.fsync:
            fsops.fsync_dir(directory)
        ctx.set_sha256(digest)

    def _finish(self, ctx: ActionContext, path: str, *, created: bool, owned: bool) -> JSONDict:
        removed = False
        if self.config.remove_source:
            removed = fsops.remove(ctx.path)
            if removed and self.config.fsync:
                fsops.fsync_dir(os.path.dirname(ctx.path))
        return self._result(ctx, path, created=created, owned=owned, source_removed=removed)

    def _already_archived(self, ctx: ActionContext, dest: str) -> JSONDict:
        """The source is gone: success only if an earlier attempt of this step archived it
        and removed it (our stamped archive is in place)."""
        stamp = step_stamp(ctx.idempotency_key)
        if self.config.remove_source:
            for path in self._candidates(dest):
                found = self._read(path, digest=True)
                ours = found.stamp == stamp and found.name == member_name(ctx)
                same = found.size == ctx.event.size and ctx.event.sha256 in (None, found.sha256)
                if ours and same and found.sha256:
                    ctx.set_sha256(found.sha256)
                    return self._result(ctx, path, created=False, owned=True, source_removed=True)
        raise FileVanishedError(f"file vanished: {ctx.path}")

    def _candidates(self, dest: str) -> Iterator[str]:
        """The paths an earlier attempt may have used: ``dest``, then with 'rename' the
        'name (n).ext' names up to the first free one."""
        yield dest
        if self.config.on_conflict != "rename":
            return
        for path in rename_candidates(dest):
            if not fsops.exists(path):
                return
            yield path

    def _result(
        self,
        ctx: ActionContext,
        path: str,
        *,
        created: bool,
        owned: bool,
        skipped: bool = False,
        source_removed: bool = False,
    ) -> JSONDict:
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise fsops.os_error(exc, "checking", path) from exc
        return {
            "path": path,
            "format": self.config.format,
            "size": size,
            "member": member_name(ctx),
            "sha256": ctx.sha256() if not skipped else ctx.event.sha256,
            "created": created,
            "skipped": skipped,
            "owned": owned,
            "source_removed": source_removed,
        }

    def compensate(self, ctx: ActionContext, result: JSONDict) -> None:
        """Put a removed source back (from the archive), then remove the archive if this step
        wrote it and it is still ours. The archive stays when the source cannot be restored:
        it would be the only copy left."""
        path = str(result["path"])
        if result.get("source_removed") and not self._restore_source(ctx, result):
            return
        if not result.get("owned"):
            return
        found = self._read(path)
        if found.stamp != step_stamp(ctx.idempotency_key) or found.size != ctx.event.size:
            ctx.log.warning("archive_compensate_skipped", path=path, reason="missing or changed")
            return
        fsops.remove(path)
        if self.config.fsync:
            fsops.fsync_dir(os.path.dirname(path))

    def _restore_source(self, ctx: ActionContext, result: JSONDict) -> bool:
        origin, sha256 = ctx.path, str(result["sha256"])
        if fsops.exists(origin):
            if fsops.same_content(origin, ctx.event.size, lambda: sha256):
                return True  # restored by an earlier run of this compensation
            ctx.log.warning("archive_restore_skipped", path=origin, reason="original path taken")
            return False
        try:
            archive = str(result["path"])
            restore_member(self.config.format, archive, origin, ctx.event.mtime_ns, sha256)
        except FileExistsError:
            ctx.log.warning("archive_restore_skipped", path=origin, reason="original path taken")
            return False
        return True


def member_name(ctx: ActionContext) -> str:
    """The member's name in the archive: the file's own name."""
    return posixpath.basename(ctx.event.relpath)


def step_stamp(idempotency_key: str) -> str:
    """What marks an archive as written by this step (a digest: no path in clear)."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{STAMP_PREFIX}{digest[:32]}"


class _HashingReader:
    """Reads the source for the archive writer, hashing on the way; read errors are the
    source's (vanished, unreadable), never mistaken for errors writing the archive."""

    def __init__(self, fh: BinaryIO, path: str) -> None:
        self._fh, self._path = fh, path
        self._digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._fh.read(size)
        except OSError as exc:
            raise fsops.source_error(exc, self._path) from exc
        self._digest.update(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def write_archive(
    cfg: ArchiveConfig, src: str, tmp: str, dest: str, member: str, stamp: str
) -> str:
    """Write the archive of ``src`` into the new file ``tmp``; returns the source's SHA-256.
    Errors writing are reported against ``dest`` (ENOSPC: 'no space left on device')."""
    try:
        src_fh = open(src, "rb")  # noqa: SIM115 - closed below, errors translated apart
    except OSError as exc:
        raise fsops.source_error(exc, src) from exc
    with src_fh:
        reader = _HashingReader(src_fh, src)
        try:
            st = os.fstat(src_fh.fileno())
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                if cfg.format == "zip":
                    _write_zip(out, reader, member, st, cfg.compression_level, stamp)
                else:
                    _write_tar_gz(out, reader, member, st, cfg.compression_level, stamp)
                out.flush()
                os.fchmod(out.fileno(), stat.S_IMODE(st.st_mode))
                if cfg.fsync:
                    os.fsync(out.fileno())
        except OSError as exc:
            raise fsops.os_error(exc, "writing", dest) from exc
        except UnicodeEncodeError:
            raise PermanentError(
                f"file name {member!r} cannot be stored in a {cfg.format}"
            ) from None
    return reader.hexdigest()


def _write_zip(
    out: IO[bytes], reader: _HashingReader, member: str, st: os.stat_result, level: int, stamp: str
) -> None:
    t = time.localtime(st.st_mtime)
    local = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    info = zipfile.ZipInfo(member, date_time=min(max(local, ZIP_FIRST), ZIP_LAST))
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = level  # type: ignore[attr-defined]  # public 'compress_level' in 3.13
    info.external_attr = (stat.S_IFREG | stat.S_IMODE(st.st_mode)) << 16
    # 'UT' extended timestamp: the mtime in UTC seconds, as Info-ZIP writes it.
    info.extra = struct.pack("<HHBl", 0x5455, 5, 1, int(st.st_mtime) & 0x7FFFFFFF)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        zf.comment = stamp.encode()
        force_zip64 = st.st_size >= zipfile.ZIP64_LIMIT
        with zf.open(info, "w", force_zip64=force_zip64) as dst:
            shutil.copyfileobj(reader, dst, fsops.CHUNK_BYTES)


def _write_tar_gz(
    out: IO[bytes], reader: _HashingReader, member: str, st: os.stat_result, level: int, stamp: str
) -> None:
    info = tarfile.TarInfo(member)
    info.size, info.mode, info.mtime = st.st_size, stat.S_IMODE(st.st_mode), st.st_mtime
    sec, ns = divmod(st.st_mtime_ns, 1_000_000_000)
    mtime = f"{sec}.{ns:09d}" if sec >= 0 else repr(st.st_mtime)  # exact to the nanosecond
    info.pax_headers = {"mtime": mtime, PAX_COMMENT: stamp}
    # Our own GzipFile: tarfile would put the temp file's name into the gzip header.
    with (
        gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=out, mtime=sec) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(info, reader)


@contextlib.contextmanager
def open_member(path: str, fmt: ArchiveFormat) -> Iterator[tuple[Member, IO[bytes]] | None]:
    """The single regular member of the archive at ``path`` and a stream of its bytes, or
    None when it is not such an archive (OSError and the format's errors are the caller's)."""
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) != 1 or infos[0].is_dir():
                yield None
                return
            info = infos[0]
            stamp = zf.comment.decode("utf-8", "replace") or None
            mode = stat.S_IMODE(info.external_attr >> 16) or DEFAULT_MODE
            with zf.open(info) as stream:
                yield Member(info.filename, info.file_size, mode, stamp), stream
        return
    with tarfile.open(path, "r:gz") as tar:
        first = tar.next()
        if first is None or not first.isreg() or tar.next() is not None:
            yield None
            return
        data = tar.extractfile(first)
        assert data is not None  # a regular member always has a stream
        with data:
            stamp = first.pax_headers.get(PAX_COMMENT)
            yield Member(first.name, first.size, stat.S_IMODE(first.mode), stamp), data


def read_member(path: str, fmt: ArchiveFormat, *, digest: bool = False) -> Member | None:
    """The archive's single member (with its SHA-256 when ``digest``), or None if ``path`` is
    missing or not a one-file archive of this format."""
    try:
        with open_member(path, fmt) as found:
            if found is None:
                return None
            member, stream = found
            if digest:
                sha = hashlib.sha256()
                while chunk := stream.read(fsops.CHUNK_BYTES):
                    sha.update(chunk)
                member = Member(
                    member.name, member.size, member.mode, member.stamp, sha.hexdigest()
                )
            return member
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise fsops.os_error(exc, "reading", path) from exc
    except _UNREADABLE:
        return None


def restore_member(
    fmt: ArchiveFormat, archive: str, origin: str, mtime_ns: int, sha256: str
) -> None:
    """Extract the member back to ``origin`` atomically, with the event's mtime; never
    replaces an existing file (FileExistsError, raw). The bytes must hash to ``sha256``."""
    directory = os.path.dirname(origin)
    fsops.makedirs(directory)
    tmp = fsops.temp_path_for(origin)
    try:
        with open_member(archive, fmt) as found:
            if found is None:
                raise PermanentError(f"cannot restore {origin}: {archive} is not our archive")
            _extract_to(found[1], tmp, origin, mtime_ns, sha256)
        os.chmod(tmp, found[0].mode)
        fsops.publish(tmp, origin, overwrite=False)
    except FileExistsError:
        raise
    except OSError as exc:
        raise fsops.os_error(exc, "restoring", origin) from exc
    except _UNREADABLE as exc:
        raise PermanentError(f"cannot restore {origin}: {archive} is damaged") from exc
    finally:
        _remove_quietly(tmp)
    fsops.fsync_dir(directory)


def _extract_to(stream: IO[bytes], tmp: str, origin: str, mtime_ns: int, sha256: str) -> None:
    digest = hashlib.sha256()
    with open(tmp, "xb") as out:
        while chunk := stream.read(fsops.CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.utime(out.fileno(), ns=(mtime_ns, mtime_ns))
        os.fsync(out.fileno())
    if digest.hexdigest() != sha256:
        raise PermanentError(f"cannot restore {origin}: the archive's copy does not match")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(ActionError):
        fsops.remove(path)
