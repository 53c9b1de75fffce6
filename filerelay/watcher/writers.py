"""Which files some process holds open for writing, read from ``/proc/<pid>/fd`` and ``fdinfo``.

Used by the stability detector for ``stable_when: close``: a lost close-write event must not
strand a file, and a stalled writer must not get its half-written file shipped. One call scans
every process once for a whole batch of files, identified by ``(st_dev, st_ino)`` so hard links
and other mount namespaces do not matter.

The check can be *partial*: the descriptors of a process of another user can be read only by
root (``/proc/<pid>/fd`` is the process owner's), and ``/proc`` mounted with ``hidepid=2``
hides such processes altogether. A file such a process writes looks closed. So every scan says
whether it saw every process (:attr:`WriterScan.complete`); the detector then does not take
"no writer found" as evidence for a file it saw being written (see
:mod:`~filerelay.watcher.stability`), and :meth:`ProcWriters.blind_spot` tells the watcher at
start-up what it cannot see.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

import structlog

FileKey = tuple[int, int]
"""``(st_dev, st_ino)`` of a file."""

_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)
_HIDING = ("hidepid=2", "hidepid=invisible", "hidepid=4", "hidepid=ptraceable")

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class WriterScan:
    """The answer of one check: the files held open for writing, and whether every process
    could be inspected (if not, a file not in ``held`` may still be open)."""

    held: set[FileKey] = field(default_factory=set)
    complete: bool = True


class WriterCheck(Protocol):
    """Finds the files that some process holds open for writing."""

    def __call__(self, keys: Collection[FileKey]) -> WriterScan:
        """Which of ``keys`` are open for writing, as far as this check can see."""
        ...

    def blind_spot(self) -> str | None:
        """What the check cannot see right now, in words; None if it sees every process."""
        ...


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


def _inspectable(pid_dir: str) -> bool:
    """Whether the open descriptors of the process at ``pid_dir`` may be read (a process gone
    meanwhile counts as inspectable: it holds nothing)."""
    try:
        with os.scandir(f"{pid_dir}/fd") as it:
            first = next(it, None)
        if first is not None:
            os.readlink(first.path)  # an undumpable process lists its fds but hides them
    except PermissionError:
        return False
    except OSError:
        pass
    return True


def _writers_in(pid_dir: str, wanted: set[FileKey], found: set[FileKey]) -> bool:
    """Add to ``found`` the wanted files that the process at ``pid_dir`` has open for writing;
    False if the process may not be inspected (another user's)."""
    try:
        entries = list(os.scandir(f"{pid_dir}/fd"))
    except PermissionError:
        return False
    except OSError:  # gone
        return True
    for entry in entries:
        try:
            # sockets, pipes and anon inodes read as 'socket:[123]' etc.; skip them cheaply
            if not os.readlink(entry.path).startswith("/"):
                continue
        except PermissionError:  # the descriptors of this process are not ours to read
            return False
        except OSError:
            continue
        try:
            st = os.stat(entry.path)
        except OSError:  # e.g. a FUSE mount that denies root: not one of our files
            continue
        key = (st.st_dev, st.st_ino)
        if key not in wanted or key in found:
            continue
        flags = _fd_flags(f"{pid_dir}/fdinfo/{entry.name}")
        if flags is not None and (flags & os.O_ACCMODE) in _WRITE_MODES:
            found.add(key)
    return True


class ProcWriters:
    """A :class:`WriterCheck` backed by ``/proc``; warns once if ``/proc`` cannot be read."""

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root.rstrip("/") or "/"
        self._warned = False

    def __call__(self, keys: Collection[FileKey]) -> WriterScan:
        """The subset of ``keys`` that some visible process holds open with O_WRONLY/O_RDWR."""
        wanted = set(keys)
        found: set[FileKey] = set()
        if not wanted:
            return WriterScan(found)
        pids = self._pid_dirs()
        if pids is None:
            return WriterScan(found, complete=False)
        complete = not self._hidden()
        for pid_dir in pids:
            complete = _writers_in(pid_dir, wanted, found) and complete
            if found == wanted:
                break
        return WriterScan(found, complete)

    def blind_spot(self) -> str | None:
        """What this check cannot see: processes of other users, or /proc itself."""
        pids = self._pid_dirs()
        if pids is None:
            return f"{self.proc_root} cannot be read"
        hidden = self._hidden()
        blind = sum(not _inspectable(pid_dir) for pid_dir in pids)
        if not blind and not hidden:
            return None
        parts = [f"{blind} of {len(pids)} processes cannot be inspected"] if blind else []
        if hidden:
            parts.append(f"{self.proc_root} hides other users' processes (hidepid)")
        return "; ".join(parts) + f" (running as uid {os.geteuid()})"

    def _pid_dirs(self) -> list[str] | None:
        try:
            return [e.path for e in os.scandir(self.proc_root) if e.name.isdigit()]
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "writers.proc_unreadable",
                    proc_root=self.proc_root,
                    error=str(exc),
                    effect="open-writer check blind; files being written wait for their close",
                )
            return None

    def _hidden(self) -> bool:
        """Whether ``/proc`` hides processes from us (``hidepid=2``) and we are not exempt."""
        if os.geteuid() == 0:
            return False
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    fields = line.split()
                    if len(fields) > 4 and fields[4] == self.proc_root and " - proc " in line:
                        options = line.rsplit(" ", 1)[-1].strip().split(",")
                        return any(o in _HIDING for o in options)
        except OSError:
            return False
        return False
