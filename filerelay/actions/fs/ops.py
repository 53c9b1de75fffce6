"""Local filesystem effects shared by the copy and move actions: atomic copy, fsync, errno.

A copy is written to ``.<name>.<random>.filerelay-tmp`` next to the destination, fsynced,
then published with ``os.replace`` (overwrite) or ``os.link`` (never clobber), so the
destination path never holds a partial file. On any failure the temp file is removed.

``OSError`` becomes a filerelay error here::

    ENOSPC EDQUOT EROFS EACCES EPERM ENAMETOOLONG ...   PermanentError
    EIO EAGAIN EBUSY EINTR ETIMEDOUT ESTALE ...         RetryableError
    ENOENT on the source                                FileVanishedError
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

from filerelay.errors import ActionError, FileVanishedError, PermanentError, RetryableError

CHUNK_BYTES = 1024 * 1024
TMP_SUFFIX = ".filerelay-tmp"

RETRYABLE_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ENOTCONN,
        errno.ECONNRESET,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENOLCK,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
    }
)
# Our own wording for the errors users meet most, so messages read the same everywhere.
_PHRASES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def describe(exc: OSError) -> str:
    """A short lower-case reason for ``exc`` (no paths: callers add their own)."""
    if exc.errno in _PHRASES:
        return _PHRASES[exc.errno]
    return (exc.strerror or str(exc)).lower()


def os_error(exc: OSError, doing: str, path: str) -> ActionError:
    """The filerelay error for ``exc`` raised while ``doing`` (e.g. 'writing') ``path``."""
    message = f"{describe(exc)} {doing} {path}"
    if exc.errno in RETRYABLE_ERRNOS:
        return RetryableError(message)
    return PermanentError(message)


def source_error(exc: OSError, path: str) -> ActionError:
    """Like :func:`os_error` for the file being acted on: a missing source has vanished."""
    if isinstance(exc, FileNotFoundError):
        return FileVanishedError(f"file vanished: {path}")
    return os_error(exc, "reading", path)


def file_sha256(path: str) -> str:
    """SHA-256 hex of ``path`` (read errors translated as errors on the destination)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:
        raise os_error(exc, "reading", path) from exc
    return digest.hexdigest()


def same_content(path: str, size: int, sha256: Callable[[], str]) -> bool:
    """True when ``path`` is a regular file of ``size`` bytes whose SHA-256 is ``sha256()``.

    The source digest is a callable so it is only computed when the sizes match.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_error(exc, "checking", path) from exc
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    return file_sha256(path) == sha256()


def exists(path: str) -> bool:
    """``os.path.lexists`` that reports errors other than 'not there'."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_error(exc, "checking", path) from exc
    return True


def remove(path: str) -> bool:
    """Unlink ``path``; False if it was not there (other errors translated)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_error(exc, "removing", path) from exc
    return True


def makedirs(directory: str) -> None:
    """Create ``directory`` and its parents (translated errors)."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, "creating directory", directory) from exc


def fsync_dir(directory: str) -> None:
    """Make a rename or link in ``directory`` durable (best effort where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise os_error(exc, "syncing", directory) from exc
    finally:
        os.close(fd)


def temp_path_for(dest: str) -> str:
    """``<dir>/.<name>.<random>.filerelay-tmp`` next to ``dest``."""
    directory, name = os.path.split(dest)
    return os.path.join(directory, f".{name}.{secrets.token_hex(4)}{TMP_SUFFIX}")


def atomic_copy(
    src: str, dest: str, *, overwrite: bool, fsync: bool = True, preserve_mtime: bool = True
) -> str:
    """Copy ``src`` to ``dest`` atomically and return the SHA-256 of the bytes copied.

    With ``overwrite=False`` an existing ``dest`` is never replaced: ``FileExistsError`` is
    raised (untranslated, so callers can pick another name). Every other failure leaves no
    temp file behind and is raised as a filerelay error.
    """
    directory = os.path.dirname(dest) or "."
    makedirs(directory)
    tmp = temp_path_for(dest)
    try:
        digest = _write_temp(src, tmp, dest, fsync=fsync, preserve_mtime=preserve_mtime)
        publish(tmp, dest, overwrite=overwrite)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _remove_quietly(tmp)  # after os.link the temp name is a second link to the same file
    if fsync:
        fsync_dir(directory)
    return digest


def publish(tmp: str, dest: str, *, overwrite: bool) -> None:
    """Give the finished ``tmp`` its final name: replace, or link without clobbering."""
    try:
        if overwrite:
            os.replace(tmp, dest)
            return
        try:
            os.link(tmp, dest)
        except OSError as exc:
            # Filesystems without hard links (vfat, some FUSE): check-then-rename instead.
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.EXDEV):
                raise
            if os.path.lexists(dest):
                raise FileExistsError(errno.EEXIST, "File exists", dest) from exc
            os.replace(tmp, dest)
    except FileExistsError:
        raise
    except OSError as exc:
        raise os_error(exc, "writing", dest) from exc


def _write_temp(src: str, tmp: str, dest: str, *, fsync: bool, preserve_mtime: bool) -> str:
    """Stream ``src`` into a new ``tmp`` (hashing on the way); returns the SHA-256."""
    try:
        src_fh = open(src, "rb")  # noqa: SIM115 - closed below, errors translated apart
    except OSError as exc:
        raise source_error(exc, src) from exc
    with src_fh:
        try:
            src_st = os.fstat(src_fh.fileno())
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise os_error(exc, "writing", dest) from exc
        try:
            digest = _pump(src_fh, fd, src)
            _finish_temp(fd, src_st, fsync=fsync, preserve_mtime=preserve_mtime)
        except OSError as exc:
            raise os_error(exc, "writing", dest) from exc
        finally:
            os.close(fd)
    return digest


def _pump(src_fh: BinaryIO, fd: int, src: str) -> str:
    digest = hashlib.sha256()
    read = src_fh.read
    while True:
        try:
            chunk = read(CHUNK_BYTES)
        except OSError as exc:
            raise source_error(exc, src) from exc
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def _finish_temp(fd: int, src_st: os.stat_result, *, fsync: bool, preserve_mtime: bool) -> None:
    os.fchmod(fd, stat.S_IMODE(src_st.st_mode))
    if preserve_mtime:
        os.utime(fd, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
    if fsync:
        os.fsync(fd)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
