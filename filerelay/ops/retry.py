"""Retry one event and reprocess many, as the API and the CLI ask for them, audited: the
use cases of :mod:`filerelay.ops.requeue` with an actor and a filter built from operator
input."""

from __future__ import annotations

from typing import Any

from filerelay.errors import NotFoundError
from filerelay.ops.audit import Actor, audited
from filerelay.ops.deployment import Deployment
from filerelay.ops.inputs import is_event_id, parse_state, parse_time
from filerelay.ops.requeue import Outcome, plan, reprocess, select
from filerelay.store.listing import EventFilter


def event_filter(
    state: str | None = None,
    source: str | None = None,
    route: str | None = None,
    path: str | None = None,
    q: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> EventFilter:
    """An events filter from operator input; :class:`UsageError` naming the bad field."""
    return EventFilter(
        state=parse_state(state),
        source=source or None,
        route=route or None,
        since=parse_time(since, "since"),
        until=parse_time(until, "until"),
        path_glob=path or None,
        search=q or None,
    )


def _queue(dep: Deployment, take: list[Any], out: Outcome, same_rules: bool) -> Outcome:
    if not take:
        return out
    return reprocess(dep.store, dep.celery(), dep.settings.queue, take, out, same_rules=same_rules)


def retry(dep: Deployment, actor: Actor, event_id: str, force: bool, same_rules: bool) -> Outcome:
    """Run one event through its routes again (failed; any finished one with ``force``)."""
    if not is_event_id(event_id) or dep.store.get_event(event_id) is None:
        raise NotFoundError(f"no event {event_id}")
    params = {"force": force, "same_rules": same_rules}
    with audited(dep.control, actor, "retry", event_id, params):
        take, out = plan(select(dep.store, [event_id], None, None), force)
        return _queue(dep, take, out, same_rules)


def reprocess_matching(
    dep: Deployment,
    actor: Actor,
    flt: EventFilter,
    *,
    force: bool = False,
    same_rules: bool = False,
    dry_run: bool = False,
) -> Outcome:
    """Reprocess every event matching ``flt`` (``dry_run``: only say which)."""
    params = {k: v for k, v in flt.__dict__.items() if v is not None}
    params.update(force=force, same_rules=same_rules, dry_run=dry_run)
    with audited(dep.control, actor, "reprocess", None, _plain(params)):
        take, out = plan(select(dep.store, [], flt, None), force)
        if dry_run:
            out.requeued = [r.id for r in take]
            return out
        return _queue(dep, take, out, same_rules)


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in params.items()}
