"""Fixtures of the store tests: a migrated store on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from filerelay.store import Store, make_engine
from filerelay.store.migrate import upgrade


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on the parametrized database."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)
