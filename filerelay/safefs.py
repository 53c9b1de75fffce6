"""Opening files under a root without following links, and checking they are the file detected.

An uploader who can write to a watched tree can, after the watcher declared a file stable,
swap the file (or one of its parent directories) for a symbolic link to something they cannot
read themselves, or for a FIFO that blocks whoever opens it. A worker running as another user
(root, say) must not follow such a link, nor wait on such a FIFO. So every path below a root
is walked one component at a time from an open directory (``openat`` with ``O_NOFOLLOW``;
the root itself is the operator's and may be a link), and the file is opened non-blocking and
checked with ``fstat`` *after* opening:

- a link at any component is refused (:class:`~filerelay.errors.UnsafeFileError`, naming it);
- anything but a regular file is refused (a FIFO, a socket, a device, a directory);
- the file must be the one detected: same device and inode, size, mtime and, when the event
  has it, ctime (see :class:`Identity`).

Actions read and change the file through the :class:`SourceFile` this hands out (its ``fd``,
the ``dir_fd`` of its directory and its ``name`` there), never through its path again.

``OSError`` is translated into the filerelay error tree here too (:func:`os_error`)::

    ENOSPC EDQUOT EROFS EACCES EPERM ENAMETOOLONG ...   PermanentError
    EIO EAGAIN EBUSY EINTR ETIMEDOUT ESTALE ...         RetryableError
    ENOENT on the source                                FileVanishedError
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from filerelay.errors import (
    ActionError,
    FileVanishedError,
    PermanentError,
    RetryableError,
    UnsafeFileError,
)

CHUNK_BYTES = 1024 * 1024
NAME_MAX = 255  # bytes of one path component on every Linux filesystem filerelay writes to
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

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
    errno.ENAMETOOLONG: "file name too long",
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


def sha256_of_stream(fh: BinaryIO) -> str:
    """SHA-256 hex of what is left to read in ``fh`` (OSError is the caller's)."""
    digest = hashlib.sha256()
    while chunk := fh.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def kind_of(mode: int) -> str:
    """'a FIFO', 'a directory', ... for a file mode (for messages)."""
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def check_name(name: str, path: str) -> None:
    """Refuse a path component longer than :data:`NAME_MAX` bytes, saying so."""
    size = len(os.fsencode(name))
    if size > NAME_MAX:
        raise PermanentError(f"file name too long: {size} bytes, the limit is {NAME_MAX}: {path}")


def open_dir(root: str, parts: Sequence[str], *, create: bool = False) -> int:
    """An fd of ``root/parts...``, walked without following a link below ``root``.

    ``create``: make missing directories (mode 0o777 less the umask). A link in the way is an
    :class:`UnsafeFileError` naming it; a missing directory (without ``create``) is
    ``FileNotFoundError``, raw, for the caller to judge; other errors are translated.
    """
    try:
        fd = os.open(root or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create or not root:
            raise
        try:
            os.makedirs(root, exist_ok=True)
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise os_error(exc, "creating directory", root) from exc
    except OSError as exc:
        raise os_error(exc, "opening directory", root) from exc
    where = root.rstrip("/")
    for part in parts:
        where = f"{where}/{part}"
        fd = _step_down(fd, part, where, create=create)  # closes the parent, even on error
    return fd


def _step_down(fd: int, part: str, where: str, *, create: bool) -> int:
    """The fd of directory ``part`` in ``fd`` (which is closed), never through a link."""
    try:
        if part in ("", ".", "..") or "/" in part:
            raise PermanentError(f"refusing {where}: {part!r} is not a plain name")
        check_name(part, where)
        try:
            return os.open(part, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            raise _not_a_dir(exc, fd, part, where) from exc
        try:
            os.mkdir(part, 0o777, dir_fd=fd)
        except FileExistsError:
            pass  # made by someone else meanwhile: open it below, still without following
        except OSError as exc:
            raise os_error(exc, "creating directory", where) from exc
        return _open_child_dir(fd, part, where)
    finally:
        os.close(fd)


def _open_child_dir(fd: int, part: str, where: str) -> int:
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise _not_a_dir(exc, fd, part, where) from exc


def _not_a_dir(exc: OSError, fd: int, part: str, where: str) -> ActionError:
    """ELOOP / ENOTDIR on a component: say what is in the way."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            mode = os.lstat(part, dir_fd=fd).st_mode
        except OSError:
            mode = 0
        return UnsafeFileError(f"refusing {where}: it is {kind_of(mode)}, not a directory")
    return os_error(exc, "opening directory", where)


def split_source(path: str, relpath: str) -> tuple[str, list[str]]:
    """The source root and the components of ``relpath`` below it for an event's file."""
    parts = [p for p in relpath.split("/") if p]
    suffix = "/" + "/".join(parts)
    if parts and path.endswith(suffix) and len(path) > len(suffix):
        return path[: -len(suffix)], parts
    return os.path.dirname(path) or "/", [os.path.basename(path)]


@dataclass(frozen=True)
class Identity:
    """What the detected file was: device and inode, size, mtime and ctime (0 = unknown).

    ``strict=False`` (on_failure steps, after a compensation may have put the file back as a
    new inode) accepts a different inode or ctime, but only for a file with one link: a
    planted hard link to somebody else's file has two.
    """

    size: int
    mtime_ns: int
    inode: int = 0
    device: int = 0
    ctime_ns: int = 0
    strict: bool = True

    def mismatch(self, st: os.stat_result) -> str | None:
        """Why ``st`` is not this file, or None."""
        if st.st_size != self.size:
            return f"size {self.size} -> {st.st_size}"
        if st.st_mtime_ns != self.mtime_ns:
            return "mtime changed"
        same_inode = (self.inode in (0, st.st_ino)) and (self.device in (0, st.st_dev))
        if not self.strict:
            return None if same_inode or st.st_nlink == 1 else "another file, with hard links"
        if not same_inode:
            return f"another file (inode {self.inode} -> {st.st_ino})"
        if self.ctime_ns and st.st_ctime_ns != self.ctime_ns:
            return "ctime changed (its contents or attributes were changed)"
        return None


class SourceFile:
    """The opened, checked file: ``fd`` to read (at any offset, with ``pread`` or
    :meth:`stream`), ``dir_fd`` and ``name`` to rename or unlink it, ``path`` for messages.
    Close it (it is a context manager)."""

    def __init__(self, fd: int, dir_fd: int, name: str, path: str, st: os.stat_result) -> None:
        self.fd, self.dir_fd, self.name, self.path, self.stat = fd, dir_fd, name, path, st

    def stream(self) -> BinaryIO:
        """A new file object reading from the start (shares the fd's offset: one at a time)."""
        fd = os.dup(self.fd)
        os.lseek(fd, 0, os.SEEK_SET)
        return os.fdopen(fd, "rb")

    def sha256(self) -> str:
        """SHA-256 hex of the whole file, streamed from its start."""
        try:
            with self.stream() as fh:
                return sha256_of_stream(fh)
        except OSError as exc:
            raise source_error(exc, self.path) from exc

    def check_unchanged(self, identity: Identity) -> None:
        """After reading: the file is still ``identity`` (a write meanwhile tore the copy)."""
        try:
            st = os.fstat(self.fd)
        except OSError as exc:
            raise source_error(exc, self.path) from exc
        why = identity.mismatch(st)
        if why is not None:
            raise PermanentError(f"file changed since it was declared stable: {self.path} ({why})")

    def is_named(self) -> bool:
        """Whether ``name`` in ``dir_fd`` is still this very file (not swapped since)."""
        try:
            st = os.lstat(self.name, dir_fd=self.dir_fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (self.stat.st_dev, self.stat.st_ino)

    def close(self) -> None:
        for fd in (self.fd, self.dir_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_file(root: str, parts: Sequence[str], identity: Identity | None = None) -> SourceFile:
    """Open the regular file ``root/parts...`` without following links and check it is
    ``identity`` (when given). Raises FileVanishedError, UnsafeFileError, PermanentError."""
    path = "/".join([root.rstrip("/"), *parts])
    try:
        dir_fd = open_dir(root, parts[:-1])
    except FileNotFoundError:
        raise FileVanishedError(f"file vanished: {path}") from None
    try:
        fd = _open_regular(dir_fd, parts[-1], path)
    except BaseException:
        os.close(dir_fd)
        raise
    opened = SourceFile(fd, dir_fd, parts[-1], path, os.fstat(fd))
    if identity is not None:
        why = identity.mismatch(opened.stat)
        if why is not None:
            opened.close()
            raise PermanentError(f"file changed since it was declared stable: {path} ({why})")
    return opened


def _open_regular(dir_fd: int, name: str, path: str) -> int:
    """Open ``name`` in ``dir_fd`` for reading: never through a link, never blocking, only a
    regular file (the fd is left blocking again for reading)."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"refusing {path}: it is a symbolic link") from None
        raise source_error(exc, path) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafeFileError(f"refusing {path}: it is {kind_of(mode)}, not a regular file")
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    return fd


def open_path(root: str, path: str, identity: Identity | None = None) -> SourceFile:
    """:func:`open_file` for ``path``, a path below ``root`` (walked from there)."""
    rel = os.path.relpath(path, root)
    if rel == ".." or rel.startswith("../"):
        raise UnsafeFileError(f"refusing {path}: it is not below {root}")
    return open_file(root, [p for p in rel.split("/") if p and p != "."], identity)
