"""routing_configs.text: the stored config versions with their secrets masked.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Until now each version's raw text was kept, literal secrets and all (a connection's
``password:``, a URL's ``user:password@``, a ``?access_token=`` in a webhook URL), and
``events show``/the store showed them to anyone who could read the database. From this
revision on the text is stored masked (:func:`filerelay.config.stored.masked_config_text`);
this migration masks the rows already there: the secrets their YAML shows by itself
(secret-named keys, URL passwords, secret query values) and the secrets this process knows
(its environment's credentials). ``sha256`` stays the hash of the real text, the version's
identity. Nothing to undo: the masked values are gone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from filerelay.config.stored import masked_config_text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_configs = sa.table("routing_configs", sa.column("sha256", sa.String), sa.column("text", sa.Text))


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_configs.c.sha256, _configs.c.text)).all()
    for sha256, text in rows:
        masked = masked_config_text(text)
        if masked != text:
            conn.execute(sa.update(_configs).where(_configs.c.sha256 == sha256).values(text=masked))


def downgrade() -> None:
    """The masked values cannot be restored; the text stays masked."""
