"""queue_depths and alert_measures: the queue-depth history and each alert rule's last measure;
two indexes on steps for the live stream's step outcomes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

``queue_depths`` holds the messages waiting per broker queue, one row per queue and minute
(the console's queue-depth trend); ``alert_measures`` what the alert evaluator last measured
for each rule, with its threshold (the console's Alerts page), so that stateless API
processes read what the one evaluator computed. ``ix_steps_finished_at`` and
``ix_steps_status_next_attempt_at`` let the API's SSE poller read the steps that ended or were
put back for a retry since its last poll without a scan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "queue_depths" not in existing:
        op.create_table(
            "queue_depths",
            sa.Column("queue", sa.String(255), nullable=False),
            sa.Column("minute", sa.BigInteger(), nullable=False),
            sa.Column("depth", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("queue", "minute", name="pk_queue_depths"),
        )
        op.create_index("ix_queue_depths_minute", "queue_depths", ["minute"])
    if "alert_measures" not in existing:
        op.create_table(
            "alert_measures",
            sa.Column("rule", sa.String(255), nullable=False),
            sa.Column("kind", sa.String(64), nullable=False),
            sa.Column("value", sa.Float(), nullable=True),
            sa.Column("threshold", sa.Float(), nullable=True),
            sa.Column("unit", sa.String(16), nullable=False),
            sa.Column("subject", sa.String(512), nullable=True),
            sa.Column("holding", sa.Integer(), nullable=False),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("measured_at", sa.DateTime(timezone=False), nullable=False),
            sa.PrimaryKeyConstraint("rule", name="pk_alert_measures"),
        )

    indexes = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("steps")}
    if "ix_steps_finished_at" not in indexes:
        op.create_index("ix_steps_finished_at", "steps", ["finished_at"])
    if "ix_steps_status_next_attempt_at" not in indexes:
        op.create_index("ix_steps_status_next_attempt_at", "steps", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_steps_status_next_attempt_at", table_name="steps")
    op.drop_index("ix_steps_finished_at", table_name="steps")
    op.drop_table("alert_measures")
    op.drop_index("ix_queue_depths_minute", table_name="queue_depths")
    op.drop_table("queue_depths")
