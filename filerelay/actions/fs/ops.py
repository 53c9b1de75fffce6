"""Local filesystem effects shared by ``copy``, ``move`` and ``archive``, all relative to an
open directory (an :class:`Entry` is a name in a directory fd), so no link is ever followed.

A new file is written to a short fixed-length temp name next to its destination
(``.<16 hex>.filerelay-tmp``: whatever the destination's length, so a 255-byte name works),
fsynced, then published with ``renameat`` (overwrite) or ``linkat`` (never clobber), so the
destination never holds a partial file. On any failure the temp file is removed.

Its mode follows the step's mode policy (:func:`~filerelay.actions.fs.config.target_mode`),
never with setuid, setgid or sticky bits, and it belongs to the worker's user: ownership is
never copied nor given away. Errors are translated with :func:`filerelay.safefs.os_error`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from filerelay.errors import UnsafeFileError
from filerelay.safefs import SourceFile, os_error, sha256_of_stream, source_error

CHUNK_BYTES = 1024 * 1024
TMP_SUFFIX = ".filerelay-tmp"
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EMLINK)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class Entry:
    """``name`` in the open directory ``dir_fd``; ``path`` only names it in messages."""

    dir_fd: int
    name: str
    path: str

    def sibling(self, name: str) -> Entry:
        return Entry(self.dir_fd, name, os.path.join(os.path.dirname(self.path), name))


def entry_of(source: SourceFile) -> Entry:
    """The name of an opened source file in its directory."""
    return Entry(source.dir_fd, source.name, source.path)


def lstat(entry: Entry) -> os.stat_result | None:
    """The entry's own status (a link is not followed), or None when nothing is there."""
    try:
        return os.lstat(entry.name, dir_fd=entry.dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error(exc, "checking", entry.path) from exc


def exists(entry: Entry) -> bool:
    """Whether anything is at ``entry``; a symbolic link there is an UnsafeFileError."""
    st = lstat(entry)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UnsafeFileError(f"refusing {entry.path}: it is a symbolic link")
    return st is not None


def open_regular(entry: Entry) -> BinaryIO | None:
    """The regular file at ``entry``, opened for reading without following a link or
    blocking; None when nothing or something else (a FIFO, a directory) is there. A link is
    an UnsafeFileError."""
    try:
        fd = os.open(entry.name, _READ_FLAGS, dir_fd=entry.dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"refusing {entry.path}: it is a symbolic link") from None
        raise os_error(exc, "reading", entry.path) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def sha256_of(entry: Entry) -> str | None:
    """SHA-256 of the regular file at ``entry`` (None if it is something else or gone)."""
    fh = open_regular(entry)
    if fh is None:
        return None
    with fh:
        try:
            return sha256_of_stream(fh)
        except OSError as exc:
            raise os_error(exc, "reading", entry.path) from exc


def same_content(entry: Entry, size: int, sha256: Callable[[], str]) -> bool:
    """True when ``entry`` is a regular file of ``size`` bytes whose SHA-256 is ``sha256()``.
    The source digest is a callable so it is only computed when the sizes match."""
    st = lstat(entry)
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != size:
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise UnsafeFileError(f"refusing {entry.path}: it is a symbolic link")
        return False
    return sha256_of(entry) == sha256()


def remove(entry: Entry) -> bool:
    """Unlink ``entry`` (a link itself, never its target); False if it was not there."""
    try:
        os.unlink(entry.name, dir_fd=entry.dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_error(exc, "removing", entry.path) from exc
    return True


def remove_quietly(entry: Entry) -> None:
    with contextlib.suppress(OSError):
        os.unlink(entry.name, dir_fd=entry.dir_fd)


def fsync_dir(dir_fd: int, path: str) -> None:
    """Make a rename or link in the directory durable (best effort where unsupported)."""
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise os_error(exc, "syncing", path) from exc


def temp_entry(dest: Entry) -> Entry:
    """A fresh temp name next to ``dest``, of fixed length (31 bytes) whatever its name."""
    return dest.sibling(f".{secrets.token_hex(8)}{TMP_SUFFIX}")


def create_temp(dest: Entry) -> tuple[Entry, int]:
    """Create a new temp file next to ``dest`` (0o600 until :func:`finish_file`)."""
    tmp = temp_entry(dest)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return tmp, os.open(tmp.name, flags, 0o600, dir_fd=tmp.dir_fd)
    except OSError as exc:
        raise os_error(exc, "writing", dest.path) from exc


def finish_file(fd: int, mode: int, *, mtime_ns: int | None, fsync: bool) -> None:
    """Give a written file its mode (no special bits, ever) and mtime, and sync it."""
    os.fchmod(fd, mode & 0o777)
    if mtime_ns is not None:
        os.utime(fd, ns=(mtime_ns, mtime_ns))
    if fsync:
        os.fsync(fd)


def atomic_copy(
    source: SourceFile,
    dest: Entry,
    *,
    overwrite: bool,
    mode: int,
    fsync: bool = True,
    preserve_mtime: bool = True,
) -> str:
    """Copy the opened ``source`` to ``dest`` atomically; returns the SHA-256 of the bytes.

    With ``overwrite=False`` an existing ``dest`` is never replaced: ``FileExistsError`` is
    raised (untranslated, so callers can pick another name). Every other failure leaves no
    temp file behind and is raised as a filerelay error.
    """
    tmp, fd = create_temp(dest)
    try:
        try:
            digest = _pump(source, fd)
            mtime = source.stat.st_mtime_ns if preserve_mtime else None
            finish_file(fd, mode, mtime_ns=mtime, fsync=fsync)
        except OSError as exc:
            raise os_error(exc, "writing", dest.path) from exc
        finally:
            os.close(fd)
        publish(tmp, dest, overwrite=overwrite)
    finally:
        remove_quietly(tmp)  # after linkat the temp name is a second link to the same file
    if fsync:
        fsync_dir(dest.dir_fd, os.path.dirname(dest.path))
    return digest


def publish(tmp: Entry, dest: Entry, *, overwrite: bool) -> None:
    """Give the finished ``tmp`` its final name: replace, or link without clobbering."""
    try:
        place_file(tmp, dest, overwrite=overwrite)
    except FileExistsError:
        raise
    except OSError as exc:
        raise os_error(exc, "writing", dest.path) from exc


def place_file(src: Entry, dest: Entry, *, overwrite: bool) -> bool:
    """Give the file at ``src`` the name ``dest`` (in the same filesystem), never following a
    link. With ``overwrite`` it replaces ``dest`` (renameat); without, it links and never
    clobbers (FileExistsError, raw), falling back to check-then-rename where hard links are
    not supported. Returns True when ``src`` is still a name of the file (linked: the caller
    unlinks it). OSError other than EEXIST is raised raw."""
    if overwrite:
        os.rename(src.name, dest.name, src_dir_fd=src.dir_fd, dst_dir_fd=dest.dir_fd)
        return False
    try:
        os.link(src.name, dest.name, src_dir_fd=src.dir_fd, dst_dir_fd=dest.dir_fd)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise  # EXDEV included: a move across filesystems copies instead
        # No hard links here (vfat, some FUSE, protected_hardlinks): check, then rename.
        if lstat(dest) is not None:
            raise FileExistsError(errno.EEXIST, "File exists", dest.path) from exc
        os.rename(src.name, dest.name, src_dir_fd=src.dir_fd, dst_dir_fd=dest.dir_fd)
        return False
    return True


def _pump(source: SourceFile, fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while True:
        try:
            chunk = os.pread(source.fd, CHUNK_BYTES, offset)
        except OSError as exc:
            raise source_error(exc, source.path) from exc
        if not chunk:
            return digest.hexdigest()
        offset += len(chunk)
        digest.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]
