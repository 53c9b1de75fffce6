"""``filerelay audit list``: who changed what, when, from where, and how it ended."""

from __future__ import annotations

import typer

from filerelay.cli import views
from filerelay.cli.common import run_guarded, settings_for
from filerelay.ops import open_store
from filerelay.ops.audit import list_audit
from filerelay.ops.inputs import parse_limit, parse_time
from filerelay.store.admin import ControlStore
from filerelay.store.control import AuditFilter

app = typer.Typer(
    help="The audit log of mutations and refused authentications.", no_args_is_help=True
)


@app.command("list")
def list_(
    actor: str | None = typer.Option(None, "--actor", help="Token name or user@host."),
    action: str | None = typer.Option(None, "--action", help="e.g. pause, retry, authenticate."),
    since: str | None = typer.Option(None, "--since", help="30m, 2h, 7d or an ISO time."),
    outcome: str | None = typer.Option(None, "--outcome", help="ok or refused."),
    limit: int = typer.Option(50, "--limit", help="Rows per page."),
    cursor: str | None = typer.Option(None, "--cursor", help="From the previous page."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List audit rows, newest first.

    Example: filerelay audit list --action pause --since 7d --json
    """
    settings = settings_for(None)

    def page():  # type: ignore[no-untyped-def]
        flt = AuditFilter(actor, action, parse_time(since, "--since"), None, outcome)
        control = ControlStore(open_store(settings, existing=True).engine)
        return list_audit(control, flt, parse_limit(limit, 1000), cursor)

    found = run_guarded(page)
    if as_json:
        views.print_json({"items": found.rows, "next_cursor": found.next_cursor})
        return
    for r in found.rows:
        where = f" from {r['address']}" if r["address"] else ""
        typer.echo(
            f"{views.when(r['at'])}  {r['actor']} ({r['role'] or '-'}){where}  {r['action']} "
            f"{r['target'] or ''}  {r['outcome']}"
        )
    if found.next_cursor:
        typer.echo(f"more: --cursor {found.next_cursor}")
