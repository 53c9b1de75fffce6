"""alert_states: the alert evaluator's memory (pending, firing, resolving instances).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

One row per alert instance (rule + instance key) while it is pending, firing, or resolved
but not yet told to every channel that heard it fire; ``deliveries`` holds each channel's
last successful send, so suppression survives an evaluator restart. Sends themselves are
recorded in ``notifications`` (0003).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("instance", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        _ts("pending_since", nullable=False),
        _ts("firing_since", nullable=True),
        _ts("escalated_at", nullable=True),
        _ts("resolved_at", nullable=True),
        sa.Column("deliveries", sa.JSON(), nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("rule", "instance", name="pk_alert_states"),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
