"""A store migrated once per session, copied for each test that wants its own (the migration
is most of a small test's time)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from filerelay.store import ensure_schema, make_engine


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fleet-template") / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine, auto_upgrade=True)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite: Path, tmp_path: Path) -> str:
    """A migrated SQLite store of this test's own."""
    path = tmp_path / "store.db"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"
