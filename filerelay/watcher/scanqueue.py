"""Files a walk found already quiet, waiting for the detector's next poll: compact, in walk
order.

A start-up walk of a big tree finds every file at once (100,000 in the benchmark), and each
waits here until a poll looks at it. So a file costs its name and four array slots, about
90 bytes, not an object: files are kept per directory (the directory's path once), with
their size, mtime, inode and ctime in typed arrays. A walk counts a file as quiet since its
ctime, or since the walk if the ctime is later (a clock step): that time is not kept, it is
``min(found_at, ctime)``. A file handed out is not checked against later events here: the
detector does that when it takes it.
"""

from __future__ import annotations

import os
from array import array
from collections import deque
from collections.abc import Sequence

from filerelay.watcher.version import file_version

Found = tuple[str, int, float, float]
"""``(path, version, quiet_since, found_at)`` of one file."""


class _DirBatch:
    """The files of one directory found by one walk."""

    __slots__ = (
        "ctimes",
        "found_at",
        "inodes",
        "mtimes",
        "names",
        "next",
        "prefix",
        "sizes",
    )

    def __init__(self, prefix: str, found_at: float) -> None:
        self.prefix = prefix  # the directory's path with its trailing '/'
        self.found_at = found_at
        self.names: list[str | None] = []
        self.sizes = array("q")
        self.mtimes = array("q")
        self.inodes = array("Q")
        self.ctimes = array("q")
        self.next = 0  # index of the next file to hand out


class ScanQueue:
    """A FIFO of found files; :meth:`pop` rebuilds one file's :data:`Found` tuple."""

    def __init__(self) -> None:
        self._batches: deque[_DirBatch] = deque()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        cut = path.rfind("/") + 1
        prefix, name = path[:cut], path[cut:]
        return any(b.prefix == prefix and name in b.names[b.next :] for b in self._batches)

    def add(self, path: str, st: os.stat_result, found_at: float) -> None:
        """Queue the file ``path`` a walk found at ``found_at``."""
        batch = self._batches[-1] if self._batches else None
        if (
            batch is None
            or batch.found_at != found_at
            or not path.startswith(batch.prefix)
            or path.find("/", len(batch.prefix)) != -1
        ):
            batch = _DirBatch(path[: path.rfind("/") + 1], found_at)
            self._batches.append(batch)
        batch.names.append(path[len(batch.prefix) :])
        batch.sizes.append(st.st_size)
        batch.mtimes.append(st.st_mtime_ns)
        batch.inodes.append(st.st_ino)
        batch.ctimes.append(st.st_ctime_ns)
        self._count += 1

    def add_dir(
        self, prefix: str, names: Sequence[str], stats: Sequence[os.stat_result], found_at: float
    ) -> None:
        """:meth:`add` of the files ``prefix + name`` of one directory (``prefix`` ending in
        '/'), their arrays built at once."""
        if not names:
            return
        batch = _DirBatch(prefix, found_at)
        batch.names = list[str | None](names)
        batch.sizes = array("q", [st.st_size for st in stats])
        batch.mtimes = array("q", [st.st_mtime_ns for st in stats])
        batch.inodes = array("Q", [st.st_ino for st in stats])
        batch.ctimes = array("q", [st.st_ctime_ns for st in stats])
        self._batches.append(batch)
        self._count += len(batch.names)

    def pop(self) -> Found | None:
        """The oldest found file, or None if there is none."""
        while self._batches:
            batch = self._batches[0]
            i = batch.next
            if i >= len(batch.names):
                self._batches.popleft()
                continue
            batch.next += 1
            name, batch.names[i] = batch.names[i], None  # let the name go as we go
            self._count -= 1
            ctime_ns = batch.ctimes[i]
            version = file_version(batch.sizes[i], batch.mtimes[i], batch.inodes[i], ctime_ns)
            quiet_since = min(batch.found_at, ctime_ns / 1e9)
            return batch.prefix + str(name), version, quiet_since, batch.found_at
        return None
