"""routing_configs: the text of every loaded pipeline config, by SHA-256.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Pipelines record the SHA-256 of the config they started with; this table keeps that config's
text (with ``${ENV}`` placeholders, never their values) so any worker can finish the pipeline
with the exact rules it started with, after a reload or a restart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_configs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("path", sa.String(4096), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=False), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_routing_configs")),
    )


def downgrade() -> None:
    op.drop_table("routing_configs")
