"""``filerelay alerts``: run the evaluator, test the channels, list the rules' states."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog
import typer

from filerelay.alerting import service
from filerelay.cli.common import CONFIG_OPTION, Exit, load_checked, run_guarded, settings_for
from filerelay.cli.views import console, print_json
from filerelay.cli.watch import install_stop_handlers
from filerelay.ops import require_local_store

log = structlog.get_logger("filerelay.cli")

app = typer.Typer(
    help="Alerting: evaluate rules, test channels, list states.", no_args_is_help=True
)


@app.command("run")
def run(config: Path | None = CONFIG_OPTION) -> None:
    """Evaluate the config's alert rules every alerts.interval until stopped.

    Several may run; one works (a lock in the store). Example:
    filerelay alerts run -c pipeline.yaml
    """
    settings = settings_for(config)
    loaded = load_checked(settings, check_paths=False)
    evaluator = run_guarded(lambda: service.build_evaluator(settings, loaded))
    stop = threading.Event()
    install_stop_handlers(stop)
    service.run_evaluator(evaluator, stop)


@app.command("test")
def test(
    config_file: Path | None = typer.Argument(None, help="Pipeline YAML (or --config)."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Send a test message on every alert channel; print ok or the error per channel.

    Exit 1 when any channel failed. Example: filerelay alerts test pipeline.yaml
    """
    settings = settings_for(config_file or config)
    loaded = load_checked(settings, check_paths=False)
    run_guarded(lambda: service.alerts_of(loaded))
    try:
        store = service.open_store(settings)
    except Exception as exc:  # the test is about the channels: send without the record
        log.warning("alerts_test_unrecorded", error=str(exc))
        store = None
    results = run_guarded(lambda: service.test_channels(loaded, store))
    for name, error in results.items():
        typer.echo(f"{name}: {'ok' if error is None else f'error: {error}'}")
    if any(error is not None for error in results.values()):
        raise typer.Exit(int(Exit.FAILURES))


@app.command("list")
def list_(
    config: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Each alert rule's state: ok, pending or firing (since), last sent, escalated, and its
    instances. Example: filerelay alerts list -c pipeline.yaml --json
    """
    settings = settings_for(config)
    loaded = load_checked(settings, check_paths=False)
    alerts = run_guarded(lambda: service.alerts_of(loaded))
    run_guarded(lambda: require_local_store(settings))
    store = run_guarded(lambda: service.open_store(settings))
    states = run_guarded(lambda: service.rule_states(alerts, store))
    if as_json:
        print_json(states)
        return
    _table(states)


def _table(states: list[dict[str, object]]) -> None:
    from rich.table import Table

    table = Table("rule", "kind", "state", "since", "last sent", "escalated", "instances")
    for s in states:
        instances = "\n".join(
            f"{i['instance']} ({i['status']})"
            for i in s["instances"]  # type: ignore[attr-defined]
        )
        table.add_row(
            str(s["rule"]),
            str(s["kind"]),
            str(s["state"]),
            str(s["firing_since"] or "-"),
            str(s["last_sent"] or "-"),
            "yes" if s["escalated"] else "no",
            instances or "-",
        )
    console().print(table)
