"""The control plane: API tokens, the audit log, server secrets, config versions, log
records, alert acknowledgements, and ``pipelines.cancel_requested``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Tokens are kept only as their SHA-256. ``audit_log`` gets one row per mutation (API or CLI)
and per refused authentication. ``server_secrets`` holds the key that signs the console's
session cookies, shared by every API process. ``config_versions`` numbers the versions of
the deployment's config file pushed through the API (text masked). ``log_records`` keeps the
recent warnings, errors and pipeline outcomes of every agent, capped. ``alert_acks`` records
who acknowledged or silenced an alert instance. A cancel sets ``pipelines.cancel_requested``.
``ix_pipelines_event_id``: an event's timeline and a page's routes find pipelines by event
(the index on route, event_id could not serve them: a full scan per request on 1M rows).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("pipelines") as batch:
        batch.add_column(
            sa.Column(
                "cancel_requested", sa.Boolean(), nullable=False, server_default=sa.text("false")
            )
        )
    # after the batch operation: on SQLite it may recreate the table with its indexes
    op.create_index("ix_pipelines_event_id", "pipelines", ["event_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _ts("created_at", False),
        sa.Column("created_by", sa.String(255), nullable=False),
        _ts("expires_at", True),
        _ts("revoked_at", True),
        _ts("last_used_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _ts("at", False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("address", sa.String(255), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(1024), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.String(1024), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )
    op.create_table(
        "config_versions",
        sa.Column("version", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("path", sa.String(4096), nullable=True),
        _ts("created_at", False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("comment", sa.String(1024), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_config_versions"),
    )
    op.create_table(
        "log_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _ts("at", False),
        sa.Column("agent", sa.String(255), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("event", sa.String(128), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_records"),
    )
    op.create_index("ix_log_records_at", "log_records", ["at"])
    op.create_table(
        "alert_acks",
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("instance", sa.String(512), nullable=False),
        sa.Column("acked_by", sa.String(255), nullable=True),
        _ts("acked_at", True),
        sa.Column("silenced_by", sa.String(255), nullable=True),
        _ts("silenced_until", True),
        sa.PrimaryKeyConstraint("rule", "instance", name="pk_alert_acks"),
    )


def downgrade() -> None:
    op.drop_table("alert_acks")
    op.drop_index("ix_log_records_at", table_name="log_records")
    op.drop_table("log_records")
    op.drop_table("config_versions")
    op.drop_table("server_secrets")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
    op.drop_index("ix_pipelines_event_id", table_name="pipelines")
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_column("cancel_requested")
