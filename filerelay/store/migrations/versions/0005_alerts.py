"""alert_states: the alert evaluator's memory (pending, firing, resolving instances);
pipelines.status widened to 32 characters; indexes for the alert rules' windows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

One row per alert instance (rule + instance key) while it is pending, firing, or resolved
but not yet told to every channel that heard it fire; ``deliveries`` holds each channel's
last successful send, so suppression survives an evaluator restart. Sends themselves are
recorded in ``notifications`` (0003).

``pipelines.status`` was VARCHAR(16), too short for ``compensation_failed`` (19): PostgreSQL
refused the update, so a pipeline whose compensation failed could not be recorded there
(SQLite ignores the length). The alerting rule ``compensation_failures`` found it.

The rules read "finished since T" every interval: ``file_events.updated_at`` and
``pipelines.finished_at`` are indexed so that costs the window, not the whole history.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("pipelines") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
        )
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
    op.create_index("ix_file_events_updated_at", "file_events", ["updated_at"])
    op.create_index("ix_pipelines_finished_at", "pipelines", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_pipelines_finished_at", table_name="pipelines")
    op.drop_index("ix_file_events_updated_at", table_name="file_events")
    op.drop_table("alert_states")
    with op.batch_alter_table("pipelines") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
