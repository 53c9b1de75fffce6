"""``events``: filtered pages, one event's timeline, retry, bulk reprocess."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import (
    EventDetail,
    EventItem,
    EventPage,
    Left,
    Renewed,
    ReprocessIn,
    Requeued,
    RetryIn,
)
from filerelay.errors import NotFoundError
from filerelay.ops.deployment import Deployment
from filerelay.ops.events import history, list_events
from filerelay.ops.inputs import is_event_id
from filerelay.ops.requeue import Outcome
from filerelay.ops.retry import event_filter, reprocess_matching, retry

router = APIRouter(tags=["events"])


@router.get("/events", response_model=EventPage)
def events(
    state: str | None = Query(
        None, max_length=32, description="queued, processing, succeeded, failed, …"
    ),
    source: str | None = Query(None, max_length=255),
    route: str | None = Query(None, max_length=255),
    path: str | None = Query(None, max_length=4096, description="Glob on the path or relpath."),
    q: str | None = Query(None, max_length=200, description="Keyword in path, name, route, error."),
    since: str | None = Query(None, max_length=64, description="30m, 2h, 7d or an ISO time."),
    until: str | None = Query(None, max_length=64),
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> EventPage:
    """Events newest first, filtered; keyset pagination with ``cursor``."""
    flt = event_filter(state, source, route, path, q, since, until)
    page = list_events(dep.store, flt, limit, cursor)
    items = [EventItem.model_validate(r.to_json()) for r in page.rows]
    return EventPage(items=items, next_cursor=page.next_cursor)


@router.get("/events/{event_id}", response_model=EventDetail)
def event(
    event_id: str,
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> EventDetail:
    """One event and every run of its pipelines: steps, attempts, errors, results."""
    if not is_event_id(event_id) or dep.store.get_event(event_id) is None:
        raise NotFoundError(f"no event {event_id!r}")
    (found,) = history(dep.store, event_id)
    return EventDetail.model_validate(found.to_json())


def requeued(out: Outcome, dry_run: bool) -> Requeued:
    """The API's form of a requeue outcome."""
    return Requeued(
        dry_run=dry_run,
        queued=out.queued,
        requeued=out.requeued,
        renewed=[Renewed(from_id=a, to_id=b) for a, b in out.renewed],
        left=[Left(id=i, why=w) for i, w in out.left],
    )


@router.post("/events/{event_id}/retry", response_model=Requeued)
def retry_event(
    event_id: str,
    body: RetryIn | None = None,
    principal: Principal = Depends(allowed("events.retry")),
    dep: Deployment = Depends(deployment),
) -> Requeued:
    """Run a failed event through its routes again (any finished one with ``force``)."""
    opts = body or RetryIn()
    out = retry(dep, principal.actor, event_id, opts.force, opts.same_rules)
    return requeued(out, False)


@router.post("/reprocess", response_model=Requeued)
def reprocess(
    body: ReprocessIn,
    principal: Principal = Depends(allowed("events.reprocess")),
    dep: Deployment = Depends(deployment),
) -> Requeued:
    """Reprocess every event matching the filters (``dry_run``: only list them)."""
    flt = event_filter(
        body.state, body.source, body.route, body.path, body.q, body.since, body.until
    )
    out = reprocess_matching(
        dep,
        principal.actor,
        flt,
        force=body.force,
        same_rules=body.same_rules,
        dry_run=body.dry_run,
    )
    return requeued(out, body.dry_run)
