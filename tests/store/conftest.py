"""Fixtures of the store tests: a store at head on SQLite and on PostgreSQL (a copy of the
session's migrated template; test_store_migrate.py migrates its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from filerelay.store import Store, make_engine


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """A migrated engine on the parametrized database."""
    eng = make_engine(migrated_db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)
