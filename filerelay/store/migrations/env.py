"""Alembic environment of the store, driven from :mod:`filerelay.store.migrate`.

There is no ``alembic.ini``: ``migrate`` builds the config in code and passes an open
connection (already inside its transaction) as ``config.attributes["connection"]``. A bare
``sqlalchemy.url`` main option also works, for running ``alembic`` by hand against a copy.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from filerelay.store.db import make_engine
from filerelay.store.schema import metadata


def run_with(connection: Connection) -> None:
    """Run the migrations on ``connection``."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Use the connection handed over by ``migrate``, or open one to ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            run_with(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("filerelay store migrations run online only")
run_online()
