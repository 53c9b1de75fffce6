"""``filerelay breakers``: the destinations' circuit breakers (state, failures, opens)."""

from __future__ import annotations

from pathlib import Path

import typer

from filerelay.cli.common import CONFIG_OPTION, run_guarded, settings_for
from filerelay.cli.views import console, print_json, when
from filerelay.ops import open_store
from filerelay.ops.breakers import close_breaker, list_breakers

app = typer.Typer(
    help="Circuit breakers of destinations: each one's state (closed, open until when, "
    "half_open), consecutive failures, opens and last error; close one by hand.\n\n"
    "Examples: filerelay breakers    filerelay breakers --json    "
    "filerelay breakers close host:hooks.example",
    invoke_without_command=True,
)


@app.callback()
def list_(
    ctx: typer.Context,
    config: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Each destination's breaker: closed, open (until when) or half_open (a probe runs),
    its consecutive failures, how often it opened, its last error.

    Examples: filerelay breakers    filerelay breakers --json    filerelay breakers close
    host:hooks.example
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_for(config)
    rows = run_guarded(lambda: list_breakers(open_store(settings, existing=True)))
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no breaker has seen a failure yet")
        return
    from rich.table import Table

    table = Table("destination", "state", "failures", "opens", "open until", "last error")
    for row in rows:
        until = when(row["open_until"]) if row["open_until"] else "-"
        table.add_row(
            row["destination"],
            row["state"],
            str(row["failures"]),
            str(row["opens"]),
            until,
            (row["last_error"] or "-")[:120],
        )
    console().print(table)


@app.command("close")
def close(
    destination: str = typer.Argument(help="The destination, as 'filerelay breakers' shows it."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Close a destination's breaker now: its waiting steps go at their next try.

    Example: filerelay breakers close connection:s3-main
    """
    settings = settings_for(config)
    left = run_guarded(lambda: close_breaker(open_store(settings, existing=True), destination))
    typer.echo(f"{destination}: closed (was {left})")
