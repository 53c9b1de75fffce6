"""The ``filerelay`` command: one typer app, one module per command group."""

from __future__ import annotations

import typer

from filerelay import __version__
from filerelay.cli import alerts, audit, db, events, rules, tokens
from filerelay.cli.cancel import cancel_cmd
from filerelay.cli.common import Exit
from filerelay.cli.flower import flower
from filerelay.cli.health import health
from filerelay.cli.pause import pause, resume
from filerelay.cli.reconcile import reconcile
from filerelay.cli.reprocess import reprocess_cmd
from filerelay.cli.run import run
from filerelay.cli.serve import serve
from filerelay.cli.status import status
from filerelay.cli.submit import submit_cmd
from filerelay.cli.watch import watch
from filerelay.cli.worker import worker

app = typer.Typer(
    name="filerelay",
    help="Watch directories and run routed pipelines on each completely written file.\n\n"
    "Exit codes: 0 ok, 1 failures found, 2 usage or config error, 3 cannot connect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(rules.app, name="rules")
app.add_typer(db.app, name="db")
app.add_typer(alerts.app, name="alerts")
app.add_typer(tokens.app, name="tokens")
app.add_typer(audit.app, name="audit")
app.command("watch")(watch)
app.command("worker")(worker)
app.command("run")(run)
app.command("serve")(serve)
app.command("reconcile")(reconcile)
app.add_typer(events.app, name="events")
app.command("reprocess")(reprocess_cmd)
app.command("submit")(submit_cmd)
app.command("cancel")(cancel_cmd)
app.command("status")(status)
app.command("pause")(pause)
app.command("resume")(resume)
app.command("health")(health)
app.command("flower")(flower)


@app.command("version")
def version() -> None:
    """Print the filerelay version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(int(Exit.FAILURES)) from None
