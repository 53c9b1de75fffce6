"""``filerelay status``: is the system moving, and who is alive."""

from __future__ import annotations

import typer

from filerelay.cli import status_view
from filerelay.cli.common import run_guarded, settings_for
from filerelay.ops import open_store
from filerelay.ops.status import collect
from filerelay.tasks import make_celery


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Queue depth, workers, agents, recent counts and the oldest pending event.

    Agents show their last heartbeat and, for watchers, the files held by paused sources.

    Examples:

      filerelay status

      filerelay status --json | jq '.agents[] | select(.state == "offline")'
    """
    settings = settings_for(None)
    store = run_guarded(lambda: open_store(settings, existing=True))  # before the broker dir
    app = make_celery(settings)
    result = run_guarded(lambda: collect(settings, app, store))
    status_view.render(result, as_json)
