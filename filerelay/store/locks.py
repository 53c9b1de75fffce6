"""A cluster-wide singleton lock in the store, without a table.

PostgreSQL: a session-level advisory lock held on a dedicated connection (released by the
server if the process dies). SQLite (one host by nature): an ``flock`` on a file beside the
database (released by the kernel if the process dies).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text


class SingletonLock:
    """``acquire()`` is non-blocking: True if this process now holds the lock."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._conn: Any = None
        self._fd: int | None = None

    def _key(self) -> int:
        return int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "big", signed=True)

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key()}).scalar()
            conn.commit()
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        path = Path(self.engine.url.database or "memory").with_suffix(f".{self.name}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key()})
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
