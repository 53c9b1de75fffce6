"""Engines: SQLite pragmas and BEGIN IMMEDIATE, the UTC timestamp type on both databases."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, exc, insert, select, text

from filerelay.store import make_engine
from filerelay.store.db import UTCDateTime, read_only


def test_sqlite_engine_sets_pragmas_and_creates_the_folder(tmp_path: Path) -> None:
    # given a database file in a folder that does not exist yet
    db = tmp_path / "state" / "deep" / "store.db"
    # when an engine connects
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    engine.dispose()
    # then the folder exists and WAL, NORMAL (1), 30 s and foreign keys are on
    assert db.exists()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "foreign_keys": 1,
    }


def test_sqlite_write_transaction_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    # given an open transaction that has not written anything yet
    db = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
            # when another connection tries to write / then it is locked out at once
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        # and a read-only transaction does not take the write lock
        with read_only(engine).begin() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_unreachable_postgres_is_reported_quickly() -> None:
    # given nothing listens on the port / when connecting / then a driver error, not a hang
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.raises(exc.OperationalError):
        engine.connect()
    engine.dispose()


@pytest.fixture
def stamps(db_url: str) -> tuple[Engine, Table]:
    engine = make_engine(db_url)
    table = Table(
        "stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
    )
    table.create(engine)
    return engine, table


def test_utc_datetime_round_trips_as_aware_utc(stamps: tuple[Engine, Table]) -> None:
    engine, table = stamps
    # given a timestamp in another zone
    at = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, at=at))
    with engine.connect() as conn:
        back = conn.execute(select(table.c.at)).scalar_one()
        raw = conn.execute(text("SELECT at FROM stamps")).scalar_one()
    engine.dispose()
    # then it comes back as the same instant, in UTC, stored as naive UTC
    assert back == at and back.tzinfo is UTC
    assert str(raw).startswith("2024-05-01 10:30:15")


def test_utc_datetime_refuses_naive_values(stamps: tuple[Engine, Table]) -> None:
    engine, table = stamps
    with pytest.raises(exc.StatementError, match="naive datetime"), engine.begin() as conn:
        conn.execute(insert(table).values(id=1, at=datetime(2024, 5, 1)))
    engine.dispose()
