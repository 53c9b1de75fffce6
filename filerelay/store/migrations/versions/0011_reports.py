"""rollups: hourly aggregates of finished events for reports, SLOs and anomaly alerts.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-06

Filled as events finish from this revision on; ``filerelay db rollup --rebuild`` fills it
from the events already in the store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("hour", sa.DateTime(timezone=False), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "source", "route", "host", "kind", "key", name="pk_rollups"
        ),
    )
    op.create_index("ix_rollups_kind_hour", "rollups", ["kind", "hour"])


def downgrade() -> None:
    op.drop_table("rollups")
