"""``filerelay reprocess``: run failed (or, forced, any finished) events through the routes
again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from filerelay.cli import views
from filerelay.cli.common import CONFIG_OPTION, load_checked, run_guarded, settings_for
from filerelay.ops import open_store
from filerelay.ops.audit import cli_audited
from filerelay.ops.inputs import parse_state, parse_time
from filerelay.ops.requeue import Outcome, plan, reprocess, select
from filerelay.settings import Settings
from filerelay.store.listing import EventFilter
from filerelay.tasks import make_celery


def reprocess_cmd(
    refs: list[str] | None = typer.Argument(None, help="Event ids or file paths."),
    state: str | None = typer.Option(None, "--state", help="Select by state, e.g. failed."),
    since: str | None = typer.Option(None, "--since", help="With --state: created since."),
    route: str | None = typer.Option(None, "--route", help="With --state: only this route."),
    source: str | None = typer.Option(None, "--source", help="With --state: only this source."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be queued."),
    force: bool = typer.Option(
        False, "--force", help="Also succeeded/duplicate/skipped/vanished: ignore the dedup record."
    ),
    same_rules: bool = typer.Option(
        False, "--same-rules", help="Route with the rules the last run used, not the current."
    ),
    config: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Queue events again: failed ones get a new run of their pipelines.

    Examples:

      filerelay reprocess --state failed --since 1h --route upload --dry-run

      filerelay reprocess 0193a4c2e1f0b2c3d4e5f60718293a4b /data/camera/clip.mp4 -c pipeline.yaml

      filerelay reprocess --state succeeded --source camera --force --same-rules
    """
    settings = settings_for(config)
    flt = None
    if state is not None or since or route or source:
        flt = run_guarded(
            lambda: EventFilter(
                state=parse_state(state or "failed"),
                since=parse_time(since, "--since"),
                route=route,
                source=source,
            )
        )
    sources = load_checked(settings, check_paths=False).model.sources if settings.config else None
    params = {"state": state, "since": since, "route": route, "source": source, "force": force}
    if dry_run:
        out = run_guarded(lambda: _run(settings, refs or [], flt, sources, True, force, same_rules))
    else:
        with cli_audited(settings, "reprocess", " ".join(refs or [])[:1000] or None, params):
            out = run_guarded(
                lambda: _run(settings, refs or [], flt, sources, False, force, same_rules)
            )
    _report(out, dry_run, as_json)


def _run(
    settings: Settings,
    refs: list[str],
    flt: EventFilter | None,
    sources: list[Any] | None,
    dry_run: bool,
    force: bool,
    same_rules: bool,
) -> Outcome:
    store = open_store(settings, existing=True)
    take, out = plan(select(store, refs, flt, sources), force)
    if dry_run:
        out.requeued = [r.id for r in take]
        return out
    app = make_celery(settings)
    with views.progress_bar(len(take), "queueing") as advance:
        return reprocess(
            store, app, settings.queue, take, out, same_rules=same_rules, progress=advance
        )


def _report(out: Outcome, dry_run: bool, as_json: bool) -> None:
    if as_json:
        views.print_json(
            {
                "dry_run": dry_run,
                "queued": out.queued,
                "requeued": out.requeued,
                "renewed": [{"from": a, "to": b} for a, b in out.renewed],
                "left": [{"id": i, "why": w} for i, w in out.left],
            }
        )
        return
    verb = "would queue" if dry_run else "queued"
    typer.echo(f"{verb} {out.queued} event(s); left {len(out.left)} alone")
    for event_id, why in out.left[:20]:
        typer.echo(f"  left {event_id}: {why}")
