"""rate_buckets and breakers: fleet-wide rate limits and circuit breakers of destinations.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-06

``rate_buckets`` holds a token bucket per destination when the broker is not Redis (with
Redis the buckets live there); ``breakers`` holds each destination's circuit breaker
(closed, open until a time, half-open while one probe runs). See :mod:`filerelay.limits`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=nullable)


def upgrade() -> None:
    # a store stamped back to an older revision and upgraded again keeps its tables
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "rate_buckets" not in existing:
        _create_rate_buckets()
    if "breakers" not in existing:
        _create_breakers()


def _create_rate_buckets() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_buckets"),
    )


def _create_breakers() -> None:
    op.create_table(
        "breakers",
        sa.Column("destination", sa.String(512), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        _ts("opened_at", nullable=True),
        _ts("open_until", nullable=True),
        sa.Column("probe_owner", sa.String(255), nullable=True),
        _ts("probe_until", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("destination", name="pk_breakers"),
    )


def downgrade() -> None:
    op.drop_table("breakers")
    op.drop_table("rate_buckets")
