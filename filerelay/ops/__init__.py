"""Operator tooling behind the CLI: listing and showing events, reprocess, submit, status,
health, prune, the pause switch and Flower. The CLI modules only parse options and render;
everything they do is a function here, tested without typer.

- :mod:`~filerelay.ops.inputs` — parsing operator input (states, times, event ids)
- :mod:`~filerelay.ops.paths` — which source a path belongs to
- :mod:`~filerelay.ops.events` — events list / show
- :mod:`~filerelay.ops.requeue` — reprocess and submit
- :mod:`~filerelay.ops.status` — status; :mod:`~filerelay.ops.health` — health probes
- :mod:`~filerelay.ops.control` — pause / resume, prune, Flower
"""

from __future__ import annotations

import logging

from filerelay.errors import UsageError
from filerelay.settings import Settings
from filerelay.store import Store, ensure_schema, make_engine


def open_store(settings: Settings, *, existing: bool = False) -> Store:
    """The store of these settings, its schema checked (and upgraded if allowed).

    Raises :class:`~filerelay.errors.StoreError` when it is unreachable or behind (the
    message says to run ``filerelay db upgrade``). With ``existing`` (the operator
    commands), the default SQLite store must already exist: :class:`UsageError` naming the
    file looked for, rather than an empty store created wherever the command ran.
    """
    if existing:
        require_local_store(settings)
    # alembic says at INFO level that it looked at the schema: noise on an operator's screen
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    engine = make_engine(settings.resolved_database_url())
    try:
        ensure_schema(engine, auto_upgrade=settings.db_auto_upgrade)
    except Exception:
        engine.dispose()
        raise
    return Store(engine)


def require_local_store(settings: Settings) -> None:
    """Refuse a default SQLite store that does not exist (a command run from elsewhere)."""
    if settings.database_url:
        return
    db = (settings.state_dir / "filerelay.db").resolve()
    if not db.exists():
        raise UsageError(
            f"no filerelay store at {db}: run this where `filerelay run` runs (the state dir "
            "is relative to it), or set FILERELAY_STATE_DIR or FILERELAY_DATABASE_URL"
        )
