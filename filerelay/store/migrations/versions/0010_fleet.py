"""The fleet: agent ids on events, steps and agents; agent labels; the config center.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06

- ``file_events.agent``: the agent id of the watcher's host; the steps that read the file
  run on that host's queue (``''`` for events recorded before: the shared queue, as then).
- ``steps.agent``: the agent id of the host whose worker claimed the step last.
- ``agents.agent``, ``agents.labels``: a process's host agent id and labels.
- ``config_versions`` and ``config_rollouts``: the config center's numbered versions and
  their rollouts (canary, promote, rollback).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("file_events") as batch:
        batch.add_column(
            sa.Column("agent", sa.String(255), nullable=False, server_default=sa.text("''"))
        )
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("agent", sa.String(255), nullable=True))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("agent", sa.String(255), nullable=True))
        batch.add_column(sa.Column("labels", sa.JSON(), nullable=True))
    op.create_table(
        "config_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _ts("created_at"),
        sa.UniqueConstraint("sha256", name=op.f("uq_config_versions_sha256")),
    )
    op.create_table(
        "config_rollouts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "version",
            sa.Integer(),
            sa.ForeignKey(
                "config_versions.version", name=op.f("fk_config_rollouts_version_config_versions")
            ),
            nullable=False,
        ),
        sa.Column("selector", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_config_rollouts_state", "config_rollouts", ["state"])


def downgrade() -> None:
    op.drop_index("ix_config_rollouts_state", table_name="config_rollouts")
    op.drop_table("config_rollouts")
    op.drop_table("config_versions")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("labels")
        batch.drop_column("agent")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("agent")
    with op.batch_alter_table("file_events") as batch:
        batch.drop_column("agent")
