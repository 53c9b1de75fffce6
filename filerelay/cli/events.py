"""``filerelay events``: list recorded file events and show one file's history."""

from __future__ import annotations

from pathlib import Path

import typer

from filerelay.cli import views
from filerelay.cli.common import CONFIG_OPTION, load_checked, run_guarded, settings_for
from filerelay.ops import open_store
from filerelay.ops.events import EventList, history, list_events
from filerelay.ops.inputs import parse_limit, parse_state, parse_time
from filerelay.store.listing import EventFilter

app = typer.Typer(help="Inspect recorded file events.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")


@app.command("list")
def list_cmd(
    state: str | None = typer.Option(None, "--state", help="Only events in this state."),
    source: str | None = typer.Option(None, "--source", help="Only this source."),
    route: str | None = typer.Option(None, "--route", help="Only events a route ran on."),
    since: str | None = typer.Option(None, "--since", help="Created since: 2h, 7d, or a time."),
    until: str | None = typer.Option(None, "--until", help="Created before: 1h, or a time."),
    path: str | None = typer.Option(
        None, "--path", help="Glob on the path: '*.mp4' (name), 'cam/**' (relpath or path)."
    ),
    search: str | None = typer.Option(
        None, "--search", help="Keyword in path, name, route or error text."
    ),
    limit: int = typer.Option(50, "--limit", help="Rows per page."),
    cursor: str | None = typer.Option(None, "--cursor", help="Next page: the printed cursor."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List events, newest first, one page at a time.

    Examples:

      filerelay events list --state failed --since 2h

      filerelay events list --route upload --path '*.mp4' --search timeout --json

      filerelay events list --cursor CURSOR   (the cursor the previous page printed)
    """
    settings = settings_for(None)

    def query() -> EventList:
        flt = EventFilter(
            state=parse_state(state),
            source=source,
            route=route,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
            path_glob=path,
            search=search,
        )
        size = parse_limit(limit)
        return list_events(open_store(settings, existing=True), flt, size, cursor)

    views.events_page(run_guarded(query), as_json)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="Event id, or the path of a file."),
    as_json: bool = JSON_OPTION,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Show an event (or every recorded version of a file) and the timeline of its
    pipelines and steps over all runs: attempts, durations, results, errors.

    Examples:

      filerelay events show 0193a4c2e1f0b2c3d4e5f60718293a4b

      filerelay events show /data/camera/2026/clip.mp4 --json

    With a config (--config or FILERELAY_CONFIG), a path outside every source says so.
    """
    settings = settings_for(config)
    sources = None
    if settings.config is not None:
        sources = list(load_checked(settings, check_paths=False).model.sources)
    store = run_guarded(lambda: open_store(settings, existing=True))
    views.history(run_guarded(lambda: history(store, ref, sources)), as_json)
