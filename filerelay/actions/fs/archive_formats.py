"""The archive formats of the ``archive`` action: writing a one-member zip or tar.gz, and
reading one back (its member, its stamp, its bytes).

The member keeps the file's name, mtime (zip: local time plus the UTC 'UT' extra field; tar:
a pax header with nanoseconds) and permission bits — never setuid, setgid or sticky bits, so
an extractor does not recreate them. Every archive is stamped with a digest of the step's
idempotency key (the zip comment; a pax ``comment`` record in a tar).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
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

from filerelay.actions.fs import ops as fsops
from filerelay.errors import PermanentError
from filerelay.safefs import SourceFile, source_error

ArchiveFormat = Literal["zip", "tar.gz"]
PAX_COMMENT = "comment"  # POSIX pax: a note every reader ignores
DEFAULT_MODE = 0o644
STAMP_PREFIX = "filerelay-step:"
ZIP_FIRST, ZIP_LAST = (1980, 1, 1, 0, 0, 0), (2107, 12, 31, 23, 59, 58)  # zip's date range
UNREADABLE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class Member:
    """The single member of an archive we read back."""

    name: str
    size: int
    mode: int
    stamp: str | None
    sha256: str | None = None


NO_MEMBER = Member("", -1, 0, None)


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
            raise source_error(exc, self._path) from exc
        self._digest.update(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def write_archive(
    fmt: ArchiveFormat, level: int, source: SourceFile, out_fd: int, member: str, stamp: str
) -> str:
    """Write the archive of the opened ``source`` into ``out_fd`` (not closed); returns the
    source's SHA-256. OSError writing is raised raw, for the caller to name the destination."""
    with source.stream() as src_fh:
        reader = _HashingReader(src_fh, source.path)
        st = source.stat
        with os.fdopen(os.dup(out_fd), "wb") as out:
            try:
                if fmt == "zip":
                    _write_zip(out, reader, member, st, level, stamp)
                else:
                    _write_tar_gz(out, reader, member, st, level, stamp)
            except UnicodeEncodeError:
                raise PermanentError(f"file name {member!r} cannot be stored in a {fmt}") from None
    return reader.hexdigest()


def _write_zip(
    out: IO[bytes], reader: _HashingReader, member: str, st: os.stat_result, level: int, stamp: str
) -> None:
    t = time.localtime(st.st_mtime)
    local = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    info = zipfile.ZipInfo(member, date_time=min(max(local, ZIP_FIRST), ZIP_LAST))
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = level  # type: ignore[attr-defined]  # public 'compress_level' in 3.13
    info.external_attr = (stat.S_IFREG | stat.S_IMODE(st.st_mode) & 0o777) << 16
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
    info.size, info.mode, info.mtime = st.st_size, stat.S_IMODE(st.st_mode) & 0o777, st.st_mtime
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
def open_member(fh: BinaryIO, fmt: ArchiveFormat) -> Iterator[tuple[Member, IO[bytes]] | None]:
    """The single regular member of the archive in ``fh`` and a stream of its bytes, or
    None when it is not such an archive (OSError and the format's errors are the caller's)."""
    if fmt == "zip":
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            if len(infos) != 1 or infos[0].is_dir():
                yield None
                return
            info = infos[0]
            stamp = zf.comment.decode("utf-8", "replace") or None
            mode = stat.S_IMODE(info.external_attr >> 16) & 0o777 or DEFAULT_MODE
            with zf.open(info) as stream:
                yield Member(info.filename, info.file_size, mode, stamp), stream
        return
    with tarfile.open(fileobj=fh, mode="r:gz") as tar:
        first = tar.next()
        if first is None or not first.isreg() or tar.next() is not None:
            yield None
            return
        data = tar.extractfile(first)
        assert data is not None  # a regular member always has a stream
        with data:
            stamp = first.pax_headers.get(PAX_COMMENT)
            yield Member(first.name, first.size, stat.S_IMODE(first.mode) & 0o777, stamp), data


def read_member(fh: BinaryIO, fmt: ArchiveFormat, *, digest: bool = False) -> Member | None:
    """The archive's single member (with its SHA-256 when ``digest``), or None if ``fh`` is
    not a one-file archive of this format (OSError is the caller's)."""
    try:
        with open_member(fh, fmt) as found:
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
    except UNREADABLE:
        return None


def extract_to(stream: IO[bytes], out_fd: int) -> str:
    """Copy a member's bytes into ``out_fd`` (not closed); returns their SHA-256."""
    digest = hashlib.sha256()
    with os.fdopen(os.dup(out_fd), "wb") as out:
        while chunk := stream.read(fsops.CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()
