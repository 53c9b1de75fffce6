"""``filerelay health``: a liveness/readiness probe for compose and Kubernetes."""

from __future__ import annotations

from pathlib import Path

import typer

from filerelay.cli.common import CONFIG_OPTION, Exit, fail, load_checked, settings_for
from filerelay.ops.health import run_checks, summary
from filerelay.tasks import make_celery

ROLES = ("watcher", "worker")


def health(
    role: str | None = typer.Option(
        None, "--role", help="Also require a fresh heartbeat of this role on this host."
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Probe: exit 0 if healthy, else 1, with a one-line reason.

    Checks the broker, the store and the S3 buckets of the routes, and with --role a fresh
    heartbeat of that role on this host.

    Examples:

      filerelay health --role worker        (a compose healthcheck)

      filerelay health -c pipeline.yaml     (also head_bucket on every bucket the routes use)
    """
    if role is not None and role not in ROLES:
        fail(f"unknown role {role!r} (one of: {', '.join(ROLES)})", Exit.USAGE)
    settings = settings_for(config)
    model = load_checked(settings, check_paths=False).model if settings.config else None
    healthy, line = summary(run_checks(make_celery(settings), settings, model, role))
    typer.echo(line)
    raise typer.Exit(int(Exit.OK if healthy else Exit.FAILURES))
