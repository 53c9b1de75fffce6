"""``filerelay db``: schema migrations of the metadata store."""

from __future__ import annotations

import typer

from filerelay.cli.common import run_guarded, settings_for
from filerelay.store import make_engine
from filerelay.store.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Metadata store maintenance.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the store schema to this version's head.

    Example: FILERELAY_DATABASE_URL=postgresql://filerelay@db/filerelay filerelay db upgrade
    """
    settings = settings_for(None)
    engine = make_engine(settings.resolved_database_url())
    run_guarded(lambda: upgrade(engine))
    typer.echo(f"store at revision {run_guarded(lambda: current_revision(engine))}")


@app.command("current")
def db_current() -> None:
    """Print the store's schema revision and the code's head revision."""
    settings = settings_for(None)
    engine = make_engine(settings.resolved_database_url())
    typer.echo(f"store {run_guarded(lambda: current_revision(engine))}, code {head_revision()}")
