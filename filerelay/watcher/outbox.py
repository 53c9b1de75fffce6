"""The watcher's local SQLite database: a transactional outbox of events and the seen index.

``<state_dir>/watcher.sqlite`` (WAL, ``synchronous=FULL``: every commit is fsynced) holds:

* ``outbox``: events not yet accepted by the broker, published in ``id`` order and deleted
  only once ``publish`` returned;
* ``seen``: the last emitted version of every file, per source and relative path, so a
  restarted watcher or a rescan does not emit a file again (in memory: one int per file,
  :func:`~filerelay.watcher.version.file_version`). Rows written before the ctime was part
  of the version have none: :meth:`Outbox.adopt_legacy` takes the file's current ctime for
  each whose size, mtime and inode are unchanged, so an upgrade re-emits nothing.

:meth:`Outbox.emit` writes both in one transaction: a file is either emitted and remembered,
or neither. ``relpath`` (and ``dedup_key``, which embeds it) is stored as bytes
(``os.fsencode``), so names that are not valid UTF-8 are kept exactly. One connection is
shared by the watcher and publisher threads under a lock; statements are short. An
exclusive ``flock`` on ``watcher.lock`` keeps a second watcher off the same state dir (its
in-memory seen index would go stale).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import structlog

from filerelay.errors import FilerelayError
from filerelay.model import FileEvent
from filerelay.statedir import PRIVATE_FILE_MODE, private_dir, private_file
from filerelay.watcher.version import file_version, stat_version

log = structlog.get_logger()

DB_NAME = "watcher.sqlite"
LOCK_NAME = "watcher.lock"
FULL_LOG_INTERVAL_S = 60.0

SeenVersion = int
"""``(size, mtime_ns, inode, ctime_ns)`` of an emitted file, as one int (``file_version``)."""

NO_CTIME = -(1 << 63)
"""The ctime a legacy row (no ctime recorded) is loaded with: no real file has it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL,
    relpath BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    dedup_key BLOB NOT NULL,
    emitted_at REAL NOT NULL,
    ctime_ns INTEGER,
    PRIMARY KEY (source, relpath)
) WITHOUT ROWID;
"""

_UPSERT_SEEN = """
INSERT INTO seen (source, relpath, size, mtime_ns, inode, ctime_ns, dedup_key, emitted_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, relpath) DO UPDATE SET
    size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
    ctime_ns = excluded.ctime_ns, dedup_key = excluded.dedup_key,
    emitted_at = excluded.emitted_at
"""


class StateDirLocked(FilerelayError):
    """Another watcher process already uses this state dir."""


class Outbox:
    """Outbox and seen index in one SQLite file; safe to share between threads."""

    def __init__(
        self,
        state_dir: Path,
        *,
        max_rows: int = 1_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        private_dir(state_dir)
        self.path = private_file(state_dir / DB_NAME)
        self.max_rows = max_rows
        self._clock = clock
        self._lock = threading.Lock()
        self._lock_fd: int | None = _lock_state_dir(state_dir / LOCK_NAME)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        _add_ctime_column(self._db)
        self._depth = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self._seen: dict[str, dict[str, SeenVersion]] = {}
        self._adopted: set[str] = set()  # sources whose legacy rows were looked at
        self._last_full_log = float("-inf")

    def close(self) -> None:
        """Close the database and release the state dir."""
        with self._lock:
            self._db.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # --- outbox -------------------------------------------------------------------------

    def depth(self) -> int:
        """Rows waiting to be published."""
        return self._depth

    def emit(self, events: Sequence[FileEvent]) -> int:
        """Store events and remember their files as seen, in one transaction.

        Returns how many were taken, a prefix of ``events``: fewer when the outbox holds
        ``max_rows`` (logged at error level, at most once a minute). Nothing is dropped: the
        caller keeps the rest and offers them again.
        """
        room = max(0, self.max_rows - self._depth)
        taken = list(events[:room])
        if len(taken) < len(events):
            self._log_full(len(events) - len(taken))
        if not taken:
            return 0
        now = self._clock()
        rows = [(json.dumps(e.to_message()), now) for e in taken]
        seen = [
            (
                e.source,
                os.fsencode(e.relpath),
                e.size,
                e.mtime_ns,
                e.inode,
                e.ctime_ns,
                os.fsencode(e.dedup_key),
                now,
            )
            for e in taken
        ]
        with self._lock:
            with self._transaction():
                self._db.executemany("INSERT INTO outbox (event, created_at) VALUES (?, ?)", rows)
                self._db.executemany(_UPSERT_SEEN, seen)
            self._depth += len(taken)
        for e in taken:
            if e.source in self._seen:
                self._seen[e.source][e.relpath] = file_version(
                    e.size, e.mtime_ns, e.inode, e.ctime_ns
                )
        return len(taken)

    def peek(self, limit: int, skip: frozenset[str] = frozenset()) -> list[tuple[int, FileEvent]]:
        """The oldest ``limit`` rows, in id order, leaving out those of the ``skip`` sources
        (held: paused). Undecodable rows are logged and removed."""
        held = sorted(skip)
        where = ""
        if held:
            where = f"WHERE json_extract(event, '$.source') NOT IN ({','.join('?' * len(held))}) "
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, event FROM outbox {where}ORDER BY id LIMIT ?", (*held, limit)
            ).fetchall()
        out: list[tuple[int, FileEvent]] = []
        poison: list[int] = []
        for row_id, text in rows:
            try:
                out.append((row_id, FileEvent.from_message(json.loads(text))))
            except ValueError as exc:  # json and pydantic errors are ValueErrors
                log.error("outbox.poison_row", row_id=row_id, row=text, error=str(exc))
                poison.append(row_id)
        if poison:
            self.ack(poison)
        return out

    def ack(self, ids: Iterable[int]) -> None:
        """Delete published rows."""
        params = [(i,) for i in ids]
        with self._lock:
            with self._transaction():
                cur = self._db.executemany("DELETE FROM outbox WHERE id = ?", params)
            self._depth = max(0, self._depth - max(cur.rowcount, 0))

    def note_failure(self, ids: Iterable[int], error: str) -> None:
        """Count a failed publish attempt on the rows and keep the error."""
        text = error[:2000].encode("utf-8", "backslashreplace").decode("utf-8")
        params = [(text, i) for i in ids]
        with self._lock, self._transaction():
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", params
            )

    # --- seen index ---------------------------------------------------------------------

    def load_seen(self, source: str) -> int:
        """(Re)load a source's seen index into memory; returns its size."""
        with self._lock:
            rows = self._db.execute(
                "SELECT relpath, size, mtime_ns, inode, COALESCE(ctime_ns, ?) FROM seen "
                "WHERE source = ?",
                (NO_CTIME, source),
            )
            index = {os.fsdecode(r[0]): file_version(r[1], r[2], r[3], r[4]) for r in rows}
        self._seen[source] = index
        return len(index)

    def seen_versions(self, source: str) -> Mapping[str, int]:
        """The seen index of a source: relpath -> :func:`file_version` (read it, don't keep
        it: :meth:`load_seen` replaces it)."""
        index = self._seen.get(source)
        if index is None:
            self.load_seen(source)
            index = self._seen[source]
        return index

    def is_seen(self, source: str, relpath: str, version: int) -> bool:
        """Whether exactly this version (:func:`file_version`) was emitted (in memory)."""
        return self.seen_versions(source).get(relpath) == version

    def adopt_legacy(self, source: str, root: str) -> int:
        """Give the rows of ``source`` without a ctime (written by a watcher from before the
        ctime was part of the version) the ctime of the file under ``root``, where its size,
        mtime and inode are the row's; returns how many. A row whose file changed keeps no
        ctime: that file is a new version and is emitted. Looks once per source."""
        if source in self._adopted:
            return 0
        self._adopted.add(source)
        with self._lock:
            rows = self._db.execute(
                "SELECT relpath, size, mtime_ns, inode FROM seen "
                "WHERE source = ? AND ctime_ns IS NULL",
                (source,),
            ).fetchall()
        adopted = []
        for raw, size, mtime_ns, inode in rows:
            try:
                st = os.lstat(os.path.join(root, os.fsdecode(raw)))
            except OSError:
                continue
            if stat_version(st) == file_version(size, mtime_ns, inode, st.st_ctime_ns):
                adopted.append((st.st_ctime_ns, source, raw))
        if adopted:
            with self._lock, self._transaction():
                self._db.executemany(
                    "UPDATE seen SET ctime_ns = ? WHERE source = ? AND relpath = ?", adopted
                )
            self._seen.pop(source, None)  # reloaded with the ctimes on next use
        return len(adopted)

    def prune_missing(self, source: str, missing: set[str], emitted_before: float) -> int:
        """Forget the files of ``missing`` (seen, then not found by a complete walk) emitted
        before a time (a file emitted again during the walk stays)."""
        if not missing:
            return 0
        return self._prune(source, missing.__contains__, emitted_before)

    def _prune(self, source: str, is_gone: Callable[[str], bool], emitted_before: float) -> int:
        with self._lock:
            gone = [
                os.fsencode(relpath)
                for (relpath,) in self._db.execute(
                    "SELECT relpath FROM seen WHERE source = ? AND emitted_at < ?",
                    (source, emitted_before),
                )
                if is_gone(os.fsdecode(relpath))
            ]
            with self._transaction():
                self._db.executemany(
                    "DELETE FROM seen WHERE source = ? AND relpath = ?", [(source, r) for r in gone]
                )
        index = self._seen.get(source, {})
        for raw in gone:
            index.pop(os.fsdecode(raw), None)
        return len(gone)

    # --- helpers ------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _log_full(self, refused: int) -> None:
        now = time.monotonic()
        if now - self._last_full_log < FULL_LOG_INTERVAL_S:
            return
        self._last_full_log = now
        log.error(
            "outbox.full",
            path=str(self.path),
            depth=self._depth,
            max_rows=self.max_rows,
            refused=refused,
            effect="files stay pending and are offered again; is the broker reachable?",
        )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, _exc: object, _tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _add_ctime_column(db: sqlite3.Connection) -> None:
    """Upgrade a seen table from before the ctime was part of the version (rows: NULL)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(seen)")}
    if "ctime_ns" not in columns:
        db.execute("ALTER TABLE seen ADD COLUMN ctime_ns INTEGER")


def _lock_state_dir(path: Path) -> int:
    """Hold an exclusive lock on ``path`` for the life of the process's outbox."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateDirLocked(
            f"another watcher is using the state dir {path.parent} (lock {path} is held)"
        ) from None
    return fd
