"""``filerelay pause`` / ``filerelay resume``: the auto-upload switch of sources.

While a source is paused its watcher keeps detecting files but holds them in its local
outbox; resume releases them in order. The switch lives in the store, so it survives
restarts; watchers pick a change up within about 2 seconds.
"""

from __future__ import annotations

from pathlib import Path

import typer

from filerelay.cli.common import CONFIG_OPTION, load_checked, run_guarded, settings_for
from filerelay.ops import open_store
from filerelay.ops.audit import cli_audited
from filerelay.ops.control import switch

SOURCE_OPTION = typer.Option(None, "--source", "-s", help="One source (default: every one).")


def _flip(paused: bool, source: str | None, config: Path | None) -> None:
    settings = settings_for(config)
    configured = []
    if settings.config is not None:
        configured = [s.name for s in load_checked(settings, check_paths=False).model.sources]
    with cli_audited(settings, "pause" if paused else "resume", source or "*"):
        changed = run_guarded(
            lambda: switch(open_store(settings, existing=True), paused, source, configured)
        )
    verb = "paused" if paused else "resumed"
    typer.echo(f"{verb}: {', '.join(changed)}" if changed else f"nothing to do: already {verb}")


def pause(source: str | None = SOURCE_OPTION, config: Path | None = CONFIG_OPTION) -> None:
    """Hold new files of a source (or of every source) in the watcher until resumed.

    Examples: filerelay pause --source camera    filerelay pause -c pipeline.yaml
    """
    _flip(True, source, config)


def resume(source: str | None = SOURCE_OPTION, config: Path | None = CONFIG_OPTION) -> None:
    """Release the files held while paused, in the order they were detected.

    Examples: filerelay resume --source camera    filerelay resume
    """
    _flip(False, source, config)
