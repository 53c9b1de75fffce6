"""Initial store schema: file_events, pipelines, steps.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

A frozen snapshot: it must not import ``filerelay.store.schema`` (which moves on), so the
timestamp columns are plain ``DateTime`` here — the database type ``UTCDateTime`` stores.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=nullable)


def _create_file_events() -> None:
    op.create_table(
        "file_events",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("relpath", sa.String(4096), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("ctime_ns", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("device", sa.BigInteger(), nullable=False),
        sa.Column("dedup_key", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("stable_signal", sa.String(32), nullable=False),
        _ts("detected_at", nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duplicate_of", sa.String(32), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_file_events"),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["file_events.id"], name="fk_file_events_duplicate_of_file_events"
        ),
    )
    op.create_index(
        "uq_file_events_dedup_key_primary",
        "file_events",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text("state <> 'duplicate'"),
        postgresql_where=sa.text("state <> 'duplicate'"),
    )
    op.create_index("ix_file_events_state_created_at", "file_events", ["state", "created_at"])
    op.create_index("ix_file_events_source_created_at", "file_events", ["source", "created_at"])
    op.create_index("ix_file_events_relpath", "file_events", ["relpath"])


def _create_pipelines() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("run", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_position", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at", nullable=False),
        _ts("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pipelines"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["file_events.id"], name="fk_pipelines_event_id_file_events"
        ),
        sa.UniqueConstraint("event_id", "route", "run", name="uq_pipelines_event_id_route_run"),
    )


def _create_steps() -> None:
    op.create_table(
        "steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("branch", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        _ts("lease_expires_at", nullable=True),
        _ts("next_attempt_at", nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(2048), nullable=False),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name="fk_steps_pipeline_id_pipelines"
        ),
        sa.UniqueConstraint(
            "pipeline_id", "position", "branch", name="uq_steps_pipeline_id_position_branch"
        ),
    )
    op.create_index("ix_steps_status_lease_expires_at", "steps", ["status", "lease_expires_at"])


def upgrade() -> None:
    _create_file_events()
    _create_pipelines()
    _create_steps()


def downgrade() -> None:
    op.drop_table("steps")
    op.drop_table("pipelines")
    op.drop_table("file_events")
