"""``filerelay report``, ``filerelay slo status`` and ``filerelay db rollup``: thin bodies over
:mod:`filerelay.ops.reports`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from filerelay.cli.common import CONFIG_OPTION, load_checked, run_guarded, settings_for
from filerelay.config.reports import ReportsConfig, SloConfig
from filerelay.fleet.identity import parse_labels
from filerelay.ops import open_store
from filerelay.ops import reports as ops
from filerelay.ops.inputs import parse_time

slo_app = typer.Typer(help="Service level objectives (the config's 'slos:').", no_args_is_help=True)


def _config(config: Path | None) -> tuple[ReportsConfig, list[SloConfig]]:
    settings = settings_for(config)
    if settings.config is None:
        return ReportsConfig(), []
    loaded = load_checked(settings, check_paths=False)
    return loaded.model.reports, list(loaded.model.slos)


def report(
    period: str | None = typer.Option(None, "--period", help="day, week or month (to now)."),
    since: str | None = typer.Option(None, "--since", help="Start: ISO time or age (2d)."),
    until: str | None = typer.Option(None, "--until", help="End: ISO time or age."),
    source: list[str] = typer.Option([], "--source", help="Only this source (repeatable)."),
    route: list[str] = typer.Option([], "--route", help="Only this route (repeatable)."),
    agent: list[str] = typer.Option([], "--agent", help="Only files of this host (repeatable)."),
    label: str | None = typer.Option(
        None, "--label", help="Only files of the hosts whose agents carry these labels (k=v,k2=v2)."
    ),
    fmt: str = typer.Option("text", "--format", help="text, json, csv or html."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Report files, bytes, sizes, throughput, latency, failures, capacity and SLOs.

    Examples: filerelay report --period week --format html -o week.html;
    filerelay report --since 2026-12-01 --until 2026-12-02 --route video --format json
    """
    reports_cfg, slos = _config(config)
    settings = settings_for(config)
    start = run_guarded(lambda: parse_time(since, "--since"))
    end = run_guarded(lambda: parse_time(until, "--until"))
    labels = run_guarded(lambda: parse_labels(label, "--label")) if label else None
    store = run_guarded(lambda: open_store(settings, existing=True))
    data = run_guarded(
        lambda: ops.build_report(
            store, period=period, since=start, until=end, sources=source, routes=route,
            hosts=agent, config=reports_cfg, slos=slos, labels=labels,
        )
    )  # fmt: skip
    text = run_guarded(lambda: ops.render(data, fmt))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"report written to {output}")


@slo_app.command("status")
def slo_status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Attainment and error budget left of each SLO in the config.

    Exit 1 when an SLO is violated. Example: filerelay slo status -c pipeline.yaml
    """
    _, slos = _config(config)
    settings = settings_for(config)
    store = run_guarded(lambda: open_store(settings, existing=True))
    rows = run_guarded(lambda: ops.slo_status(store, slos))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif not rows:
        typer.echo("no SLOs in the config ('slos:')")
    for r in rows if not as_json else []:
        att = "-" if r["attainment"] is None else f"{r['attainment']:.3%}"
        typer.echo(
            f"{r['name']}: attainment {att} of {r['total']} (objective {r['objective']:.2%}), "
            f"error budget left {r['error_budget_remaining']:.1%}, burn 1h "
            f"{r['burn_rate_1h']:.1f}x, {'met' if r['met'] else 'VIOLATED'}"
        )
    if any(not r["met"] for r in rows):
        raise typer.Exit(1)


def db_rollup(
    rebuild: bool = typer.Option(False, "--rebuild", help="Recompute from the stored events."),
    since: str | None = typer.Option(None, "--since", help="Only hours from this time (or age)."),
) -> None:
    """Rebuild the hourly rollups the reports read from the events in the store.

    Hours whose events were pruned keep their rows when --since is after them.
    Example: filerelay db rollup --rebuild --since 7d
    """
    if not rebuild:
        raise typer.BadParameter("say --rebuild to recompute the rollups")
    settings = settings_for(None)
    start = run_guarded(lambda: parse_time(since, "--since"))
    store = run_guarded(lambda: open_store(settings, existing=True))
    n = run_guarded(lambda: ops.rebuild_rollups(store, start))
    typer.echo(f"rollups rebuilt from {n} finished event(s)")
