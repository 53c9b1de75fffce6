"""steps.phase, steps.undoes: compensation and on_failure steps as ordinary step rows;
steps.checkpoint: progress an action saved, so its next attempt resumes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

When a step fails for good, the completed steps' compensations ('undo', each pointing at the
step row it undoes) and the route's on_failure steps are appended to the pipeline as step
rows, so they are claimed, leased, retried and re-driven exactly like the route's own steps.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.add_column(
            sa.Column("phase", sa.String(16), nullable=False, server_default=sa.text("'main'"))
        )
        batch.add_column(sa.Column("undoes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("checkpoint", sa.JSON(), nullable=True))
        batch.create_foreign_key(op.f("fk_steps_undoes_steps"), "steps", ["undoes"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_constraint(op.f("fk_steps_undoes_steps"), type_="foreignkey")
        batch.drop_column("checkpoint")
        batch.drop_column("undoes")
        batch.drop_column("phase")
