"""Writers of one SQLite store take turns without polling: an ``flock`` beside the database.

SQLite gives a waiting writer no way to sleep until the write lock frees: its busy handler
sleeps 1, 2, 5 … 100 ms between tries, and the store's own ``BEGIN IMMEDIATE`` loop
(:func:`filerelay.store.db._begin_write`) polls every 0.1 to 1 ms. With an ingest batch per
worker process the two pool processes write back to back, and the polling itself took the CPU
the lock's holder needed: py-spy put 11 % of the worker's CPU in that loop on a loaded 2-core
machine. So every filerelay process writing the store first takes an exclusive ``flock`` on
``<database>.write.lock`` — the kernel wakes a waiter when the holder lets go, and releases it
if the holder dies — and then begins its transaction, which then rarely has to wait (another
program writing the file is still waited for by the polling loop, within the busy timeout).

``flock`` excludes open files, not threads: the threads of one process queue on a lock of
their own first, so one descriptor per process serves them all. A thread that opens a write
transaction inside another one (never done by the store, and a deadlock on SQLite anyway)
passes through: it only meets SQLite's own lock, as before.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WriteLock:
    """The write turn of one SQLite file, for every thread of this process."""

    def __init__(self, database: str) -> None:
        self.path = Path(database).with_name(Path(database).name + ".write.lock")
        self._reset()
        ref = weakref.ref(self)

        def in_child() -> None:
            # a forked child starts with nothing held: a thread of the parent may have held
            # the turn at the fork, and the inherited descriptor shares the parent's flock
            lock = ref()
            if lock is not None:
                lock._reset()

        os.register_at_fork(after_in_child=in_child)

    def _reset(self) -> None:
        self._threads = threading.RLock()
        self._depth = threading.local()
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold this process's turn to write (re-entrant within a thread)."""
        with self._threads:
            depth = getattr(self._depth, "n", 0)
            self._depth.n = depth + 1
            fd = self._descriptor() if depth == 0 else -1
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX)  # sleeps in the kernel until it is ours
            try:
                yield
            finally:
                if fd >= 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                self._depth.n = depth

    def _descriptor(self) -> int:
        """This process's descriptor of the lock file; -1 when it cannot be opened (an
        unwritable folder: writers then meet only SQLite's lock, as without this)."""
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._fd = -1
        return self._fd
