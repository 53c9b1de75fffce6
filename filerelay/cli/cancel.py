"""``filerelay cancel``: stop an event's running pipelines (or one pipeline)."""

from __future__ import annotations

import typer

from filerelay.cli.common import run_guarded, settings_for
from filerelay.ops import open_store
from filerelay.ops.audit import cli_actor
from filerelay.ops.cancel import Cancelled, cancel, cancel_event
from filerelay.store.admin import ControlStore


def cancel_cmd(
    event_id: str | None = typer.Argument(None, help="Event whose running pipelines to stop."),
    pipeline: int | None = typer.Option(None, "--pipeline", help="One pipeline id instead."),
    compensate: bool = typer.Option(
        False, "--compensate", help="Also undo the steps that completed (as after a failure)."
    ),
) -> None:
    """Cancel: pending steps are cancelled at once, a running step stops at its next
    checkpoint (a script gets SIGTERM), the pipeline fails with 'cancelled by user@host'.
    With --compensate the completed steps are undone first (the uploaded object deleted...).

    Examples: filerelay cancel 0193a4c2e1f0b2c3d4e5f60718293a4b    filerelay cancel --pipeline 42
    --compensate
    """
    settings = settings_for(None)
    if (event_id is None) == (pipeline is None):
        run_guarded(_one_of)

    def go() -> list[Cancelled]:
        store = open_store(settings, existing=True)
        control = ControlStore(store.engine)
        if pipeline is not None:
            return [cancel(store, control, cli_actor(), pipeline, compensate)]
        assert event_id is not None
        return cancel_event(store, control, cli_actor(), event_id, compensate)

    for done in run_guarded(go):
        note = f"; {done.running_steps} running step(s) told to stop" if done.running_steps else ""
        note += "; its completed steps will be undone" if done.compensate else ""
        typer.echo(f"cancelled pipeline {done.pipeline_id} of event {done.event_id}{note}")


def _one_of() -> None:
    from filerelay.errors import UsageError

    raise UsageError("give an event id or --pipeline ID (one of them)")
