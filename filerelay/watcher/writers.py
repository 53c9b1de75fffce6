"""Which files some process holds open for writing, read from ``/proc/<pid>/fd`` and ``fdinfo``.

Used by the stability detector for ``stable_when: close``: a lost close-write event must not
strand a file, and a stalled writer must not get its half-written file shipped. One call scans
every process once for a whole batch of files, identified by ``(st_dev, st_ino)`` so hard links
and other mount namespaces do not matter. Processes we may not inspect (other users, unless we
run as root) are invisible; if ``/proc`` itself cannot be read, nothing counts as open.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection

import structlog

FileKey = tuple[int, int]
"""``(st_dev, st_ino)`` of a file."""

WriterCheck = Callable[[Collection[FileKey]], set[FileKey]]
"""Given files, return those that some process holds open for writing."""

_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)

log = structlog.get_logger()


def _fd_flags(fdinfo_path: str) -> int | None:
    """The open flags of one descriptor, from its fdinfo ``flags:`` line (octal)."""
    try:
        with open(fdinfo_path, "rb") as fh:
            for line in fh:
                if line.startswith(b"flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _writers_in(pid_dir: str, wanted: set[FileKey], found: set[FileKey]) -> None:
    """Add to ``found`` the wanted files that the process at ``pid_dir`` has open for writing."""
    try:
        entries = list(os.scandir(f"{pid_dir}/fd"))
    except OSError:  # gone, or not ours to inspect
        return
    for entry in entries:
        try:
            # sockets, pipes and anon inodes read as 'socket:[123]' etc.; skip them cheaply
            if not os.readlink(entry.path).startswith("/"):
                continue
            st = os.stat(entry.path)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key not in wanted or key in found:
            continue
        flags = _fd_flags(f"{pid_dir}/fdinfo/{entry.name}")
        if flags is not None and (flags & os.O_ACCMODE) in _WRITE_MODES:
            found.add(key)


class ProcWriters:
    """A :data:`WriterCheck` backed by ``/proc``; warns once if ``/proc`` cannot be read."""

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root
        self._warned = False

    def __call__(self, keys: Collection[FileKey]) -> set[FileKey]:
        """The subset of ``keys`` that some visible process holds open with O_WRONLY/O_RDWR."""
        wanted = set(keys)
        found: set[FileKey] = set()
        if not wanted:
            return found
        try:
            pids = [e.path for e in os.scandir(self.proc_root) if e.name.isdigit()]
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "writers.proc_unreadable",
                    proc_root=self.proc_root,
                    error=str(exc),
                    effect="open-writer check disabled; files count as closed",
                )
            return found
        for pid_dir in pids:
            _writers_in(pid_dir, wanted, found)
            if found == wanted:
                break
        return found
