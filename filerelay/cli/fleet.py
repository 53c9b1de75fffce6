"""``filerelay config`` (the config center: push, status, promote, rollback) and
``filerelay agents list``: thin bodies over :mod:`filerelay.ops.rollout`."""

from __future__ import annotations

from pathlib import Path

import typer

from filerelay.cli.common import Exit, fail, run_guarded, settings_for
from filerelay.cli.views import print_json, when
from filerelay.errors import ConfigError
from filerelay.fleet.identity import parse_labels
from filerelay.ops import rollout
from filerelay.store.fleet import FleetStore, RolloutRow

config_app = typer.Typer(
    help="The config center: versions in the store, assigned to agents started with "
    "--config store.",
    no_args_is_help=True,
)
agents_app = typer.Typer(help="The fleet's agents (watchers and workers).", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")


def _fleet() -> FleetStore:
    settings = settings_for(None)
    return run_guarded(lambda: rollout.open_fleet(settings))


@config_app.command("push")
def push(
    file: Path = typer.Argument(..., help="Pipeline YAML to push as a new version."),
    agents: str | None = typer.Option(None, "--agents", help="Only these agent ids: A,B."),
    label: str | None = typer.Option(None, "--label", help="Only agents with labels k=v[,k=v]."),
    canary: str | None = typer.Option(None, "--canary", help="A share of the online agents: 10%."),
    note: str | None = typer.Option(None, "--note", help="A note kept with the version."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Push FILE as a version: to every agent, or as a canary to some (promote or roll back
    it next). Secrets must be ${NAME} references. Example:
    filerelay config push pipeline.yaml --canary 10%
    """
    target = run_guarded(lambda: rollout.parse_target(agents, label, canary))
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}", Exit.USAGE)
    store = _fleet()
    result = run_guarded(lambda: rollout.push_config(store, text, str(file), target, note))
    if as_json:
        print_json(
            {
                "version": result.version,
                "created": result.created,
                "rollout": result.rollout.to_json(),
            }
        )
        return
    new = "new version" if result.created else "same text as version"
    typer.echo(f"v{result.version} ({new}): {_describe(result.rollout)}")


@config_app.command("status")
def status(as_json: bool = JSON_OPTION) -> None:
    """Which agent runs which version, and the rollout's state. Example:
    filerelay config status --json
    """
    fleet = run_guarded(lambda: rollout.fleet_status(_fleet()))
    if as_json:
        print_json(fleet.to_json())
        return
    base = f"v{fleet.baseline.version}" if fleet.baseline else "none"
    typer.echo(f"baseline: {base}")
    typer.echo(f"rollout: {_describe(fleet.active) if fleet.active else 'none under way'}")
    for a in fleet.agents:
        refused = f"  refused v{a.refused['version']}" if a.refused else ""
        running = f"v{a.running}" if a.running is not None else "-"
        assigned = f"v{a.assigned}" if a.assigned is not None else "-"
        labels = ",".join(f"{k}={v}" for k, v in sorted(a.labels.items())) or "-"
        typer.echo(
            f"{a.agent}  {a.state}  {'+'.join(a.roles)}  labels={labels}  "
            f"assigned={assigned}  running={running}{refused}"
        )


@config_app.command("promote")
def promote() -> None:
    """Give the canary's version to every agent. Example: filerelay config promote"""
    row = run_guarded(lambda: rollout.promote(_fleet()))
    typer.echo(f"v{row.version}: {_describe(row)}")


@config_app.command("rollback")
def rollback(
    version: int | None = typer.Argument(None, help="Version for every agent (default: undo)."),
) -> None:
    """End the canary under way, or return every agent to the previous (or the given)
    version. Example: filerelay config rollback 3
    """
    row = run_guarded(lambda: rollout.rollback(_fleet(), version))
    typer.echo(f"v{row.version}: {_describe(row)}")


def _describe(row: RolloutRow) -> str:
    if row.selector is None:
        who = "every agent"
    elif "agents" in row.selector:
        who = "agents " + ",".join(row.selector["agents"])
    else:
        who = "agents with " + ",".join(f"{k}={v}" for k, v in row.selector["labels"].items())
    reason = f" ({row.reason})" if row.reason else ""
    return f"{row.state} for {who} since {when(row.updated_at)}{reason}"


@agents_app.command("list")
def list_(
    label: str | None = typer.Option(None, "--label", help="Only agents with labels k=v[,k=v]."),
    role: str | None = typer.Option(None, "--role", help="watcher | worker"),
    as_json: bool = JSON_OPTION,
) -> None:
    """The agents heard from in the last hour: host agent id, labels, role, state. Example:
    filerelay agents list --label site=sh
    """
    if role not in (None, "watcher", "worker"):
        fail(f"--role: {role!r} is not watcher or worker", Exit.USAGE)
    try:
        labels = parse_labels(label or "", "--label")
    except ConfigError as exc:
        fail(str(exc.problems[0]).lstrip(": "), Exit.USAGE)
    rows = run_guarded(lambda: rollout.list_agents(_fleet(), labels, role))
    if as_json:
        print_json([r.to_json() for r in rows])
        return
    for r in rows:
        tags = ",".join(f"{k}={v}" for k, v in sorted((r.labels or {}).items())) or "-"
        version = ((r.details or {}).get("config") or {}).get("version")
        config = f"  config=v{version}" if version is not None else ""
        typer.echo(
            f"{r.agent or r.host}  {r.role}  {r.state}  labels={tags}  "
            f"last={when(r.last_heartbeat_at)}  {r.id}{config}"
        )


__all__ = ["agents_app", "config_app"]
