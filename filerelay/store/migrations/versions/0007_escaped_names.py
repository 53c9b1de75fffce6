"""File names are stored escaped, so names that are not UTF-8 can be recorded.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-06

A name such as ``b"caf\\xe9.txt"`` (Latin-1) is ``"caf\\udce9.txt"`` in Python, and
PostgreSQL (like any UTF-8 text) refuses the surrogate. From this revision the columns that
hold names — ``file_events.path``, ``relpath``, ``dedup_key`` and ``steps.idempotency_key`` —
hold :func:`filerelay.fsnames.escape`'s form: each non-UTF-8 byte as ``\\xNN`` and a
backslash as ``\\\\``. Only the rows of names with a backslash change: their backslashes are
doubled, so that they read back as the same name (and their dedup keys still match).
The downgrade halves them again; ``\\xNN`` escapes written since then stay as text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = {
    "file_events": ("path", "relpath", "dedup_key"),
    "steps": ("idempotency_key",),
}


def _replace(old: str, new: str) -> None:
    bind = op.get_bind()
    contains = (
        "instr({col}, :old) > 0" if bind.dialect.name == "sqlite" else "strpos({col}, :old) > 0"
    )
    for table, columns in COLUMNS.items():
        for column in columns:
            where = contains.format(col=column)
            statement = f"UPDATE {table} SET {column} = replace({column}, :old, :new) WHERE {where}"
            bind.execute(sa.text(statement), {"old": old, "new": new})


def upgrade() -> None:
    _replace("\\", "\\\\")


def downgrade() -> None:
    _replace("\\\\", "\\")
