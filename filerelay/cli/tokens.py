"""``filerelay tokens``: the API's bearer tokens — create (printed once), list, revoke."""

from __future__ import annotations

from dataclasses import asdict

import typer

from filerelay.cli import views
from filerelay.cli.common import run_guarded, settings_for
from filerelay.ops import open_store
from filerelay.ops import tokens as ops_tokens
from filerelay.ops.audit import audited, cli_actor
from filerelay.ops.inputs import parse_age
from filerelay.store.admin import ControlStore

app = typer.Typer(help="API tokens (roles: viewer, operator, admin).", no_args_is_help=True)


def _control() -> ControlStore:
    settings = settings_for(None)
    store = run_guarded(lambda: open_store(settings, existing=True))
    return ControlStore(store.engine)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="A name for the token (who or what uses it)."),
    role: str = typer.Option(..., "--role", help="viewer, operator or admin."),
    expires: str | None = typer.Option(
        None, "--expires", help="Lifetime, e.g. 90d (default: none)."
    ),
) -> None:
    """Create a token and print it once (only its hash is stored).

    Example: filerelay tokens create ci-bot --role operator --expires 90d
    """
    control = _control()
    picked = run_guarded(lambda: ops_tokens.parse_role(role))
    life = run_guarded(lambda: parse_age(expires, "--expires")) if expires else None
    actor = cli_actor()

    def make() -> ops_tokens.NewToken:
        params = {"role": picked.value, "expires": expires}
        with audited(control, actor, "tokens.create", name, params):
            return ops_tokens.create(control, name, picked, life, actor.name)

    made = run_guarded(make)
    typer.echo(made.token)
    typer.echo(f"token {name!r} ({picked.value}) created; it is not shown again", err=True)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List the tokens (never their secrets)."""
    rows = run_guarded(lambda: _control().tokens())
    if as_json:
        views.print_json([asdict(r) for r in rows])
        return
    for r in rows:
        status = "revoked" if r.revoked_at else "live" if ops_tokens.is_live(r) else "expired"
        expiry = views.when(r.expires_at) if r.expires_at else "never"
        used = views.ago(r.last_used_at)
        typer.echo(f"{r.name:24} {r.role:9} {status:8} expires {expiry}  last used {used}")


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token's name.")) -> None:
    """Revoke a token at once (its browser sessions end too)."""
    control = _control()

    def go() -> None:
        with audited(control, cli_actor(), "tokens.revoke", name):
            ops_tokens.revoke(control, name)

    run_guarded(go)
    typer.echo(f"revoked {name}")
