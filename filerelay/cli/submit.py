"""``filerelay submit``: process files now, even if they were processed before."""

from __future__ import annotations

from pathlib import Path

import typer

from filerelay.cli.common import CONFIG_OPTION, load_checked, run_guarded, settings_for
from filerelay.cli.printable import printable
from filerelay.ops.audit import cli_audited
from filerelay.ops.requeue import submit, submitted_event
from filerelay.tasks import make_celery


def submit_cmd(
    paths: list[str] = typer.Argument(..., help="Files inside a configured source."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Send files through the routes now, even if unchanged since last processed.

    Each gets a new event and new pipelines (stable signal 'manual').

    Example: filerelay submit /data/camera/clip.mp4 /data/camera/clip2.mp4 -c pipeline.yaml
    """
    settings = settings_for(config)
    sources = load_checked(settings, check_paths=False).model.sources
    events = run_guarded(lambda: [submitted_event(sources, p) for p in paths])
    with cli_audited(settings, "submit", ", ".join(paths)[:1000]):
        run_guarded(lambda: submit(make_celery(settings), settings.queue, events))
    for event in events:
        typer.echo(printable(f"submitted {event.event_id} {event.source}:{event.relpath}"))
