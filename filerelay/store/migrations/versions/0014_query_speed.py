"""summary_rollups and keyword-search indexes: the dashboard and search at 1,000,000 events.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

``summary_rollups`` holds per-minute, 10-minute and hour counts of finished events (by state, by
latency bin, failed routes and error classes), kept in the transaction that ends each event
(:mod:`filerelay.store.summary_rollups`); the last 8 days of events already in the store are
rolled up here. Keyword search gets an index: on PostgreSQL pg_trgm GIN indexes on the
searched columns (skipped, with a warning, on a server without the extension: search then
scans), on SQLite FTS5 trigram tables kept by triggers (:mod:`filerelay.store.search`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filerelay.store import search, summary_rollups

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "summary_rollups" not in set(sa.inspect(bind).get_table_names()):
        op.create_table(
            "summary_rollups",
            sa.Column("grain", sa.Integer(), nullable=False),
            sa.Column("at_s", sa.BigInteger(), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("key", sa.String(255), nullable=False),
            sa.Column("n", sa.BigInteger(), nullable=False),
            sa.Column("total", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("grain", "at_s", "kind", "key", name="pk_summary_rollups"),
        )
    search.install(bind)
    summary_rollups.rebuild(bind)


def downgrade() -> None:
    search.uninstall(op.get_bind())
    op.drop_table("summary_rollups")
