"""Schema migrations of the store, run from code (no ``alembic.ini``).

Every process that opens the store calls :func:`ensure_schema` at start: with
``db_auto_upgrade`` on it creates or upgrades the schema, otherwise it refuses to run on a
schema that does not match the code and says which command fixes it. Several processes
starting at once upgrade one after the other: the upgrade runs in one transaction that first
takes the write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), and alembic
reads the current revision only after that.

Alembic is imported only when it has work: a start on a store already at the packaged head
reads ``alembic_version`` itself and finds the head in the migration files' own
``revision``/``down_revision`` lines; the long-running commands bring a store that is behind
to the head in a short-lived child first (:func:`upgrade_apart`), so alembic, mako and
pygments (~12 MB) never load in them, nor, by fork, in a worker's pool.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from filerelay.errors import StoreError
from filerelay.store.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Where :func:`upgrade_apart` gives its child the store URL (the environment: argv is public).
URL_ENV = "FILERELAY_UPGRADE_URL"
_READ_VERSION = "SELECT version_num FROM alembic_version"
_CHILD = "from filerelay.store.migrate import upgrade_from_env; upgrade_from_env()"
#: How long :func:`upgrade_apart` lets its child migrate.
UPGRADE_APART_TIMEOUT_S = 600.0
#: Key of the PostgreSQL advisory lock held while migrating ("frmg").
PG_MIGRATION_LOCK = 0x66726D67


def alembic_config(url: str | None = None) -> Config:
    """An alembic config pointing at the packaged migrations (``url`` for manual runs)."""
    from alembic.config import Config

    config = Config()
    # configparser interpolation: a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The revision this code needs."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a migration
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def known_revisions() -> set[str]:
    """Every revision this code knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` for an empty database."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise StoreError(f"cannot read the store schema revision: {exc}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision``, in one transaction."""
    from alembic import command

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
    if packaged_head() is not None and recorded_revision(engine) == packaged_head():
        return
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


@functools.cache
def packaged_head() -> str | None:
    """The head revision read from the migration files without alembic: the one revision no
    other names as its ``down_revision``; ``None`` when the files do not say it plainly (then
    alembic decides)."""
    revisions: dict[str, object] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        names = _module_constants(path, ("revision", "down_revision"))
        if not isinstance(names.get("revision"), str):
            return None
        revisions[str(names["revision"])] = names.get("down_revision")
    parents = set(revisions.values())
    heads = [rev for rev in revisions if rev not in parents]
    return heads[0] if len(heads) == 1 else None


def _module_constants(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[target.id] = _literal(node.value)
    return found


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def upgrade_apart(url: str) -> None:
    """Bring the store at ``url`` to the packaged head in a child process when it is behind.
    Only an optimisation: whatever the child meets (a refusal, an error, a timeout) is left
    to the caller's own :func:`ensure_schema`, which meets it again and reports it; a store
    that cannot be reached is left to it at once."""
    if not _behind(url):
        return
    env = {**os.environ, URL_ENV: url}
    try:
        subprocess.run(
            [sys.executable, "-c", _CHILD],
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=UPGRADE_APART_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return


def _behind(url: str) -> bool:
    """The store at ``url`` answers and is not at :func:`packaged_head`."""
    head = packaged_head()
    if head is None:
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            try:
                rows = conn.execute(text(_READ_VERSION)).all()
            except DBAPIError:  # no alembic_version yet: an empty store
                return True
            return not (len(rows) == 1 and rows[0][0] == head)
    except DBAPIError:  # unreachable: ensure_schema says so
        return False
    finally:
        engine.dispose()


def recorded_revision(engine: Engine) -> str | None:
    """The one revision in ``alembic_version``, read without alembic; ``None`` when there is
    no such table, no row, several rows, or the read fails (then alembic looks)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(_READ_VERSION)).all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade_from_env() -> None:
    """:func:`upgrade_apart`'s child: the store at ``$FILERELAY_UPGRADE_URL`` to the head,
    logging as its parent does (alembic's lines at DEBUG). A failure exits 1 and says
    nothing: the parent's own :func:`ensure_schema` reports it."""
    from filerelay.logs import configure_logging
    from filerelay.settings import load_settings

    try:
        settings = load_settings()
        configure_logging(settings.log_format, settings.log_level)
        engine = make_engine(os.environ[URL_ENV])
        try:
            ensure_schema(engine, auto_upgrade=True)
        finally:
            engine.dispose()
    except Exception:
        raise SystemExit(1) from None
