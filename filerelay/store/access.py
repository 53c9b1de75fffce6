"""What every facade over the store shares: short transactions on one engine (writes in
``BEGIN IMMEDIATE`` on SQLite, reads in ``DEFERRED``) and driver errors translated to
:class:`~filerelay.errors.StoreError` at the boundary."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from filerelay.errors import StoreError
from filerelay.store import audit_tx, rollups
from filerelay.store.db import read_only
from filerelay.store.writelock import WriteLock

log = structlog.get_logger("filerelay.store")

P = ParamSpec("P")
T = TypeVar("T")

#: How often a write that lost an insert race runs again (the next try sees the winner's row).
INSERT_RACE_ATTEMPTS = 3


def translated(method: Callable[P, T]) -> Callable[P, T]:
    """Turn driver errors escaping ``method`` into :class:`StoreError` — and data the store
    cannot decode (a corrupted row: bad JSON, bad text), which is the store's fault too: the
    task that met it is deferred, not failed and its message dropped."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except DBAPIError as exc:
            raise StoreError(f"store {method.__name__} failed: {exc.orig or exc}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store {method.__name__} failed: {exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a corrupted row
            raise StoreError(f"store {method.__name__}: undecodable data: {exc}") from exc

    return wrapper


class Transactions:
    """A store facade's engine and its two kinds of short transaction.

    On SQLite the store's file is checked before each transaction: deleted or replaced under
    a running process, SQLite would go on writing to the unlinked file, and every record made
    since would vanish with it. So the change is an error (:class:`StoreError`, logged once):
    tasks are deferred, nothing is written anywhere, until filerelay is restarted and opens
    the file now at that path (a new, empty store if it was deleted).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = read_only(engine)
        self._file = sqlite_file(engine)
        self._identity = _identity(self._file) if self._file else None
        self._replaced_logged = False
        self._turn = write_lock(self._file) if self._file else None

    def _check_file(self) -> None:
        if self._file is None or self._identity is None:
            return
        now = _identity(self._file)
        if now == self._identity:
            return
        what = "deleted" if now is None else "replaced"
        message = (
            f"the store file {self._file} was {what} while filerelay had it open; nothing "
            "is recorded until filerelay is restarted (it then opens the file at that path)"
        )
        if not self._replaced_logged:
            self._replaced_logged = True
            log.error("store_file_changed", path=self._file, change=what)
        raise StoreError(message)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self._check_file()
        audit_tx.began()
        # the events finished in the transaction are added to the rollups at its end, together
        if self._turn is None:
            with self.engine.begin() as conn, rollups.deferred(conn):
                yield conn
        else:
            with self._turn.held(), self.engine.begin() as conn, rollups.deferred(conn):
                yield conn  # writers queue on the turn, not poll
        audit_tx.committed()  # an audit row written with the effect is in the store now

    def _write_racing(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, again in a new one when a concurrent insert of
        the same key won (``IntegrityError``): that transaction sees the winner's row."""
        for attempt in range(INSERT_RACE_ATTEMPTS):
            try:
                with self._write() as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == INSERT_RACE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_file()
        with self._reader.begin() as conn:
            yield conn


_WRITE_LOCKS: dict[str, WriteLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _fresh_guard() -> None:
    global _WRITE_LOCKS_GUARD
    _WRITE_LOCKS_GUARD = threading.Lock()  # a thread of the parent may have held it


os.register_at_fork(after_in_child=_fresh_guard)


def write_lock(database: str) -> WriteLock:
    """The process's one :class:`WriteLock` of a SQLite file (shared by every store facade
    over it: two locks of one process on one file would exclude each other's threads no
    more than flock does)."""
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(database)
        if lock is None:
            lock = _WRITE_LOCKS[database] = WriteLock(database)
        return lock


def sqlite_file(engine: Engine) -> str | None:
    """The file of a SQLite store (None: another database, or in memory)."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def _identity(path: str) -> tuple[int, int] | None:
    """``(device, inode)`` of the file, None once it is gone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)
