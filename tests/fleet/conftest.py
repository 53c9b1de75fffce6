"""Fixtures of the fleet tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def sqlite_url(migrated_sqlite_url: str) -> str:
    """A migrated SQLite store of this test's own."""
    return migrated_sqlite_url
