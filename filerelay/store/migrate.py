"""Schema migrations of the store, run from code (no ``alembic.ini``).

Every process that opens the store calls :func:`ensure_schema` at start: with
``db_auto_upgrade`` on it creates or upgrades the schema, otherwise it refuses to run on a
schema that does not match the code and says which command fixes it. Several processes
starting at once upgrade one after the other: the upgrade runs in one transaction that first
takes the write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), and alembic
reads the current revision only after that.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from filerelay.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating ("frmg").
PG_MIGRATION_LOCK = 0x66726D67


def alembic_config(url: str | None = None) -> Config:
    """An alembic config pointing at the packaged migrations (``url`` for manual runs)."""
    config = Config()
    # configparser interpolation: a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The revision this code needs."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a migration
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def known_revisions() -> set[str]:
    """Every revision this code knows."""
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` for an empty database."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise StoreError(f"cannot read the store schema revision: {exc}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision``, in one transaction."""
    config = alembic_config()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except DBAPIError as exc:
        raise StoreError(f"store schema upgrade failed: {exc}") from exc


def ensure_schema(engine: Engine, auto_upgrade: bool) -> None:
    """Make sure the schema is the one this code needs, upgrading it if allowed.

    Raises :class:`StoreError` when the schema is behind and ``auto_upgrade`` is off, or when
    the database is at a revision this code does not know (a newer filerelay migrated it).
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is not None and current not in known_revisions():
        raise StoreError(
            f"store schema is at {current}, which this filerelay does not know "
            f"(it needs {head}): was the store upgraded by a newer version?"
        )
    if not auto_upgrade:
        raise StoreError(
            f"store schema is at {current or 'nothing (empty database)'}, code needs {head}: "
            "run `filerelay db upgrade`"
        )
    upgrade(engine)
