"""Admitting a detected file version in one transaction: record it, create its pipelines,
and optionally claim one first step for the ingest task to run at once.

This is the ingest's hot path. It does in one short transaction what recording, creating the
pipelines, advancing them to their first steps and claiming one of them would do in four, and
so it gives the same answers: a redelivered event is reported as recorded before, a second
version with a known dedup key becomes a ``duplicate``, a ``queued`` event (a reprocess) gets
a new run. Functions run inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from filerelay.errors import StoreError
from filerelay.model import EventState, FileEvent, StepStatus
from filerelay.store import events, pipelines, rollups
from filerelay.store.db import UTCDateTime
from filerelay.store.records import (
    Admission,
    ClaimedStep,
    InlineClaim,
    RecordedEvent,
    RoutePlan,
    StepPlan,
    StepRef,
    Verdict,
    event_values,
)
from filerelay.store.schema import DEDUP_KEY_LEN, file_events, steps

# The row of this event id and the primary row of its dedup key, in one read.
_KNOWN = select(
    file_events.c.id, file_events.c.state, file_events.c.duplicate_of, file_events.c.dedup_key
).where(
    or_(
        file_events.c.id == bindparam("eid"),
        and_(
            file_events.c.dedup_key == bindparam("dk"),
            file_events.c.state != EventState.DUPLICATE.value,
        ),
    )
)
_FIRST_STEPS = (
    select(
        steps.c.id,
        steps.c.pipeline_id,
        steps.c.position,
        steps.c.branch,
        steps.c.phase,
        steps.c.next_attempt_at,
    )
    .where(steps.c.pipeline_id.in_(bindparam("pids", expanding=True)))
    .order_by(steps.c.pipeline_id, steps.c.position, steps.c.branch)
)
_CLAIM_FRESH = (
    update(steps)
    .where(
        steps.c.id == bindparam("sid"),
        steps.c.status == StepStatus.PENDING.value,
        steps.c.attempts == 0,
    )
    .values(
        status=StepStatus.RUNNING.value,
        attempts=1,
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=UTCDateTime()),
        started_at=bindparam("now", type_=UTCDateTime()),
        agent=bindparam("agent"),
    )
)


def admit(
    conn: Connection,
    event: FileEvent,
    verdict: Verdict,
    now: datetime,
    inline: InlineClaim | None = None,
) -> Admission:
    """Record ``event`` and act on ``verdict``; see the module docstring."""
    check_dedup_key(event)
    known = conn.execute(_KNOWN, {"eid": event.event_id, "dk": event.dedup_key}).all()
    mine = next((r for r in known if r.id == event.event_id), None)
    if mine is not None:
        return _readmit(conn, event, verdict, now, mine)
    primary = next((r.id for r in known), None)
    if primary is not None:
        _insert_event(conn, event, EventState.DUPLICATE.value, None, now, duplicate_of=primary)
        return Admission(RecordedEvent(event.event_id, EventState.DUPLICATE.value, False, primary))
    if not verdict.plans:
        _insert_event(conn, event, verdict.state, verdict.reason, now)
        return Admission(RecordedEvent(event.event_id, verdict.state, True))
    _insert_event(conn, event, EventState.PROCESSING.value, None, now)
    row = {"id": event.event_id, "dedup_key": event.dedup_key}
    ids = [
        pipelines.insert_run(conn, row, plan, 1, verdict.config_hash, now) for plan in verdict.plans
    ]
    return _started(conn, event, verdict.plans, ids, now, inline, verdict.config_hash)


def _readmit(
    conn: Connection, event: FileEvent, verdict: Verdict, now: datetime, mine: Any
) -> Admission:
    """The event id was recorded before: a redelivered ingest, or a reprocess (``queued``)."""
    recorded = RecordedEvent(
        mine.id, mine.state, mine.state == EventState.QUEUED, mine.duplicate_of
    )
    if not recorded.is_new:
        return Admission(recorded)
    if not verdict.plans:
        events.transition(conn, event.event_id, verdict.state, now, verdict.reason)
        return Admission(RecordedEvent(event.event_id, verdict.state, True))
    ids = pipelines.create(conn, event.event_id, verdict.plans, verdict.config_hash, now)
    return _started(conn, event, verdict.plans, ids, now, None, verdict.config_hash)


def _insert_event(
    conn: Connection,
    event: FileEvent,
    state: str,
    reason: str | None,
    now: datetime,
    duplicate_of: str | None = None,
) -> None:
    values: dict[str, Any] = event_values(event) | {
        "state": state,
        "reason": reason,
        "duplicate_of": duplicate_of,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(file_events), values)
    if state in rollups.FINAL_STATES:  # recorded already ended (skipped, failed): one finish
        rollups.record_finish(conn, event.event_id, state, now)


def _started(
    conn: Connection,
    event: FileEvent,
    plans: list[RoutePlan],
    ids: list[int],
    now: datetime,
    inline: InlineClaim | None,
    config_hash: str,
) -> Admission:
    """The first steps of the new pipelines; one of them claimed when ``inline`` asks."""
    firsts: list[StepRef] = []
    start_of: dict[int, int] = {}
    route_of = dict(zip(ids, plans, strict=True))
    for r in conn.execute(_FIRST_STEPS, {"pids": ids}):
        start = start_of.setdefault(r.pipeline_id, r.position)
        if r.position == start:
            firsts.append(
                StepRef(
                    step_id=r.id,
                    pipeline_id=r.pipeline_id,
                    route=route_of[r.pipeline_id].route,
                    position=r.position,
                    branch=r.branch,
                    phase=r.phase,
                    next_attempt_at=r.next_attempt_at,
                )
            )
    recorded = RecordedEvent(event.event_id, EventState.PROCESSING.value, True)
    claimed = None
    if inline is not None:
        claimed = _claim_inline(conn, event, firsts, route_of, inline, now, config_hash)
        if claimed is not None:
            firsts = [f for f in firsts if f.step_id != claimed.step_id]
    return Admission(recorded, firsts, claimed, created=True)


def _claim_inline(
    conn: Connection,
    event: FileEvent,
    firsts: list[StepRef],
    route_of: dict[int, RoutePlan],
    inline: InlineClaim,
    now: datetime,
    config_hash: str,
) -> ClaimedStep | None:
    for ref in firsts:
        plan = route_of[ref.pipeline_id]
        if (plan.route, ref.position, ref.branch) != (inline.route, inline.position, inline.branch):
            continue
        if ref.next_attempt_at is not None:
            return None  # waits for a time window: its message carries the delay
        step = next(s for s in plan.steps if (s.position, s.branch) == (ref.position, ref.branch))
        until = now + timedelta(seconds=inline.lease_s)
        params = {
            "sid": ref.step_id,
            "owner": inline.owner,
            "until": until,
            "now": now,
            "agent": inline.agent,
        }
        if conn.execute(_CLAIM_FRESH, params).rowcount != 1:
            return None
        return claimed_step(event, plan, step, ref.step_id, ref.pipeline_id, now, config_hash)
    return None


def check_dedup_key(event: FileEvent) -> None:
    """Refuse an event whose dedup key the store's column cannot hold."""
    if len(event.dedup_key) > DEDUP_KEY_LEN:
        raise StoreError(
            f"dedup key of {event.relpath!r} is {len(event.dedup_key)} characters "
            f"(at most {DEDUP_KEY_LEN})"
        )


def claimed_step(
    event: FileEvent,
    plan: RoutePlan,
    step: StepPlan,
    step_id: int,
    pipeline_id: int,
    now: datetime,
    config_hash: str,
) -> ClaimedStep:
    """The claim of a first step taken while admitting ``event`` at ``now``."""
    return ClaimedStep(
        step_id=step_id,
        pipeline_id=pipeline_id,
        event_id=event.event_id,
        event=event,
        route=plan.route,
        position=step.position,
        branch=step.branch,
        name=step.name,
        action=step.action,
        attempt=1,
        max_attempts=step.max_attempts,
        idempotency_key=f"{event.dedup_key}:{plan.route}:{step.name}",
        started_at=now,
        config_hash=config_hash,
    )
