"""Fixtures of the alerting tests: a store, events in chosen states, a config with alerts,
real receivers (pytest-httpserver, the notify tests' aiosmtpd server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from filerelay.alerting.repo import AlertStore
from filerelay.store import Store, make_engine

# the SMTP server of the notify tests, reused
from tests.actions.test_notify_email import SmtpServer as SmtpServer
from tests.actions.test_notify_email import smtp_server as smtp_server


@pytest.fixture
def stores(migrated_db_url: str) -> Iterator[tuple[Store, AlertStore]]:
    """The store (SQLite and PostgreSQL) and the evaluator's view of it."""
    engine = make_engine(migrated_db_url)
    try:
        yield Store(engine), AlertStore(engine)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_stores(migrated_sqlite_url: str) -> Iterator[tuple[Store, AlertStore]]:
    """The store on SQLite only (tests about behaviour, not SQL)."""
    engine = make_engine(migrated_sqlite_url)
    try:
        yield Store(engine), AlertStore(engine)
    finally:
        engine.dispose()
