"""Operator tables: sources (the pause switch), notifications, agents; listing indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

``sources`` holds the auto-upload switch per source (it survives restarts: the watcher polls
it), ``agents`` the registration and heartbeat of every watcher and worker process,
``notifications`` the record of alerts sent (used by alerting later). The new indexes serve
``filerelay events list``: newest first over (created_at, id) for keyset pagination, and the
route filter from ``pipelines``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=nullable)


def _create_sources() -> None:
    op.create_table(
        "sources",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("root", sa.String(4096), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        _ts("paused_at", nullable=True),
        sa.Column("paused_by", sa.String(255), nullable=True),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_sources"),
    )


def _create_notifications() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("subject", sa.String(1024), nullable=True),
        sa.Column("body_excerpt", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])


def _create_agents() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("heartbeat_s", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        _ts("started_at", nullable=False),
        _ts("last_heartbeat_at", nullable=False),
        _ts("stopped_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
    )
    op.create_index("ix_agents_last_heartbeat_at", "agents", ["last_heartbeat_at"])
    op.create_index("ix_agents_role_host", "agents", ["role", "host"])


def upgrade() -> None:
    _create_sources()
    _create_notifications()
    _create_agents()
    op.create_index("ix_file_events_created_at_id", "file_events", ["created_at", "id"])
    op.create_index("ix_pipelines_route_event_id", "pipelines", ["route", "event_id"])


def downgrade() -> None:
    op.drop_index("ix_pipelines_route_event_id", table_name="pipelines")
    op.drop_index("ix_file_events_created_at_id", table_name="file_events")
    op.drop_table("agents")
    op.drop_table("notifications")
    op.drop_table("sources")
