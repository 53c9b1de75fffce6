"""``filerelay db``: schema migrations of the metadata store."""

from __future__ import annotations

from datetime import timedelta

import typer

from filerelay.cli.common import run_guarded, settings_for
from filerelay.cli.reports import db_rollup
from filerelay.cli.views import progress_bar
from filerelay.ops import open_store, queue_depth, require_local_store
from filerelay.ops.audit import cli_audited
from filerelay.ops.audit import prune as audit_prune
from filerelay.ops.control import prune
from filerelay.ops.inputs import FINISHED_STATES, parse_age, parse_state
from filerelay.store import make_engine
from filerelay.store.admin import ControlStore
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
    run_guarded(lambda: require_local_store(settings))
    engine = make_engine(settings.resolved_database_url())
    typer.echo(f"store {run_guarded(lambda: current_revision(engine))}, code {head_revision()}")


@app.command("prune")
def db_prune(
    older_than: str = typer.Option(..., "--older-than", help="Age, e.g. 30d, 12h, 2w."),
    state: str | None = typer.Option(None, "--state", help="Only this finished state."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, delete nothing."),
) -> None:
    """Delete finished events older than an age, with their pipelines and steps, in batches.

    Examples: filerelay db prune --older-than 30d --state succeeded --dry-run
    """
    settings = settings_for(None)
    age = run_guarded(lambda: parse_age(older_than, "--older-than"))
    picked = run_guarded(lambda: parse_state(state, FINISHED_STATES))
    chosen = [picked] if picked else FINISHED_STATES
    store = run_guarded(lambda: open_store(settings, existing=True))
    counted = run_guarded(lambda: prune(store, age, chosen, dry_run=True))
    audit_rows = depth_rows = 0
    if not dry_run:
        params = {"older_than": older_than, "state": state}
        with cli_audited(settings, "db.prune", None, params):
            with progress_bar(counted.pruned.events, "pruning") as advance:
                counted = run_guarded(lambda: prune(store, age, chosen, False, advance))
            control = ControlStore(store.engine)
            retention = timedelta(days=settings.audit_retention_days)
            audit_rows = run_guarded(lambda: audit_prune(control, retention))
            depth_rows = run_guarded(lambda: queue_depth.prune(settings, store))
    p = counted.pruned
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {p.events} event(s), {p.pipelines} pipeline(s), {p.steps} step(s)")
    if not dry_run:
        typer.echo(
            f"deleted {audit_rows} audit row(s) older than {settings.audit_retention_days:g} days"
        )
        typer.echo(
            f"deleted {depth_rows} queue-depth sample(s) older than "
            f"{settings.queue_depth_retention_days:g} days"
        )


app.command("rollup")(db_rollup)
