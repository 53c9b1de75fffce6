"""Engines for the metadata store, tuned per database, and the one timestamp type.

SQLite is used by several processes at once (the watcher and every Celery worker process),
so write transactions start with ``BEGIN IMMEDIATE``: a transaction that reads and then
writes would otherwise hold a shared lock and fail at once with "database is locked" when it
tries to upgrade it (SQLite returns SQLITE_BUSY without calling the busy handler there, to
avoid a deadlock). Taking the write lock up front makes writers wait their turn under
``busy_timeout`` instead. pysqlite issues its own deferred ``BEGIN`` only before DML, so the
driver's transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself — the
recipe of SQLAlchemy's SQLite dialect docs ("Enabling Non-Legacy SQLite Transactional
Modes").
"""

from __future__ import annotations

import random
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, String, Text, create_engine, event
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.types import TypeDecorator

from filerelay import fsnames
from filerelay.errors import ConfigError
from filerelay.statedir import private_dir, private_file

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10

#: Execution option naming the SQLite ``BEGIN`` mode of a connection's transactions.
#: Unset means ``IMMEDIATE`` (safe for writes); read-only work may ask for ``DEFERRED``.
SQLITE_BEGIN_OPTION = "filerelay_sqlite_begin"
_BEGIN_MODES = {"IMMEDIATE", "DEFERRED", "EXCLUSIVE"}


#: The install that brings each PostgreSQL driver SQLAlchemy may ask for.
_DRIVER_INSTALLS = {
    "psycopg": "pip install 'filerelay[postgres]'",
    "psycopg2": "pip install psycopg2-binary (or use postgresql:// with 'filerelay[postgres]')",
}


def check_driver(url: str) -> None:
    """Raise :class:`ConfigError` — one line naming what to install — when the database
    driver that ``url`` names (or implies: ``postgresql://`` is psycopg 3 in SQLAlchemy 2.1)
    is not installed, or the URL names no database SQLAlchemy knows. The URL is not quoted:
    it may hold a password."""
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:  # an ArgumentError too: check it first
        name = url.split(":", 1)[0]
        raise ConfigError(
            f"FILERELAY_DATABASE_URL: SQLAlchemy knows no database '{name}'"
        ) from None
    except ArgumentError:
        raise ConfigError("FILERELAY_DATABASE_URL is not a database URL") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        scheme = parsed.drivername
        module = getattr(exc, "name", None) or parsed.get_driver_name()
        install = _DRIVER_INSTALLS.get(module, f"pip install {module}")
        hint = "; for PostgreSQL filerelay uses psycopg 3: pip install 'filerelay[postgres]'"
        if module in _DRIVER_INSTALLS:
            hint = ""
        raise ConfigError(
            f"FILERELAY_DATABASE_URL ({scheme}://) needs the Python module '{module}', which "
            f"is not installed: {install}{hint}"
        ) from None


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the store at ``url`` (``sqlite:///…`` or ``postgresql…://…``).

    SQLite: WAL, ``synchronous=NORMAL``, a 30 s busy timeout, foreign keys on, the parent
    folder of the file created, ``BEGIN IMMEDIATE`` for transactions. PostgreSQL: connections
    are pinged before use, so a restarted server costs a reconnect, not a failed task.
    Extra ``kwargs`` go to :func:`sqlalchemy.create_engine`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
        kwargs["connect_args"] = connect_args
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLite engine with the pragmas and the transaction recipe described above."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        file = Path(database).expanduser()
        private_dir(file.parent, tighten=False)
        private_file(file)  # its -wal and -shm files get its mode
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Set the pragmas and take transaction control away from pysqlite."""
    # None = pysqlite never emits BEGIN on its own; _sqlite_on_begin does it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch the database file to WAL (a persistent setting) unless it already is.

    Switching needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting on the busy handler, when several processes open a new database file
    together (seen here in about one start in ten with four processes). So read the mode
    first — once WAL, always WAL — and retry the switch until the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(conn: Connection) -> None:
    """Emit the ``BEGIN`` pysqlite no longer does: IMMEDIATE unless asked otherwise."""
    mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")).upper()
    if mode not in _BEGIN_MODES:
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    if mode == "DEFERRED":
        conn.exec_driver_sql("BEGIN DEFERRED")
        return
    _begin_write(conn.connection.driver_connection, mode)


#: Polling for the write lock: first and longest pause between tries.
WRITE_LOCK_POLL_S = (0.0001, 0.001)


def _begin_write(raw: Any, mode: str) -> None:
    """Take the write lock, polling for it in short, jittered pauses.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, so under
    contention a waiting writer sleeps long after the lock came free: with two worker
    processes, py-spy showed 43% of task time in that wait. The transactions here last a
    millisecond or two, so polling at 0.2 to 4 ms takes the lock soon after it frees, and still
    gives up after the same busy timeout.
    """
    cursor = raw.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 0")
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause_s, longest_s = WRITE_LOCK_POLL_S
        while True:
            try:
                cursor.execute(f"BEGIN {mode}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause_s * (0.5 + random.random()))
            pause_s = min(pause_s * 1.5, longest_s)
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) whose SQLite transactions begin ``DEFERRED``.

    For work that only reads: several readers then proceed side by side in WAL mode.
    Harmless on other databases.
    """
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` converted to tz-aware UTC; a naive value is refused (it is ambiguous)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; pass a tz-aware one")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and returned tz-aware (UTC) on every database.

    Binding a naive datetime raises: it would be read back as UTC whatever it meant.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class _EscapedName:
    """Shared by :class:`NameString` and :class:`NameText`: a file name (or a key built from
    one) in memory as surrogate-escaped ``str``, in the database as :func:`fsnames.escape`'s
    reversible UTF-8 text."""

    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else fsnames.escape(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else fsnames.unescape(value)


class NameString(_EscapedName, TypeDecorator[str]):
    """A ``VARCHAR(n)`` column holding a file name, a path or a key built from one."""

    impl = String
    cache_ok = True


class NameText(_EscapedName, TypeDecorator[str]):
    """A ``TEXT`` column holding a file name, a path or a key built from one."""

    impl = Text
    cache_ok = True
