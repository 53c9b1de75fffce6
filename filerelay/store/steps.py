"""Queries on ``steps``: claiming a step under a lease and recording its outcome.

Every write is one conditional ``UPDATE`` whose ``WHERE`` states what must still hold (the
step is pending, or running under *this* owner's lease, …), so a duplicate or late task
delivery changes nothing and learns so from the row count. Functions run inside the
caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.engine import RowMapping

from filerelay.errors import StoreError
from filerelay.model import JSONDict, StepPhase, StepStatus
from filerelay.store import pipelines
from filerelay.store.db import UTCDateTime
from filerelay.store.records import ClaimedStep, StepPlan, event_from_row
from filerelay.store.rows import RoutedStep, StepRow
from filerelay.store.schema import file_events, steps
from filerelay.store.schema import pipelines as pipelines_t

RUNNING = StepStatus.RUNNING.value
PENDING = StepStatus.PENDING.value


_NOW = bindparam("now", type_=UTCDateTime())


def _claimable(now: Any) -> Any:
    """The WHERE clause of a claim: runnable now, attempts left, pipeline at its position."""
    pending_due = and_(
        steps.c.status == PENDING,
        or_(steps.c.next_attempt_at.is_(None), steps.c.next_attempt_at <= now),
    )
    lease_expired = and_(steps.c.status == RUNNING, steps.c.lease_expires_at < now)
    pipeline_running = exists().where(
        pipelines_t.c.id == steps.c.pipeline_id,
        pipelines_t.c.status.in_(pipelines.ACTIVE),
        pipelines_t.c.current_position == steps.c.position,
        # a pipeline cancelled with compensation runs its undo steps, never a main step again
        or_(pipelines_t.c.cancel_requested.is_(False), steps.c.phase != StepPhase.MAIN.value),
    )
    return and_(
        or_(pending_due, lease_expired), steps.c.attempts < steps.c.max_attempts, pipeline_running
    )


# Built once: constructing a statement costs more than running it on SQLite.
_CLAIM = (
    update(steps)
    .where(steps.c.id == bindparam("sid"), _claimable(_NOW))
    .values(
        status=RUNNING,
        attempts=steps.c.attempts + 1,
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=UTCDateTime()),
        started_at=func.coalesce(steps.c.started_at, _NOW),
        agent=bindparam("agent"),
    )
)
_EVENT_COLUMNS = [c.label(f"ev_{c.name}") for c in file_events.c]
_CLAIMED = (
    select(steps, pipelines_t.c.route, pipelines_t.c.config_hash, *_EVENT_COLUMNS)
    .join(pipelines_t, pipelines_t.c.id == steps.c.pipeline_id)
    .join(file_events, file_events.c.id == pipelines_t.c.event_id)
    .where(steps.c.id == bindparam("sid"))
)
_EARLIER_RESULTS = (
    select(steps.c.name, steps.c.result)
    .where(
        steps.c.pipeline_id == bindparam("pid"),
        steps.c.position < bindparam("pos"),
        steps.c.status == StepStatus.SUCCEEDED.value,
    )
    .order_by(steps.c.position, steps.c.branch)
)


def claim(
    conn: Connection,
    step_id: int,
    owner: str,
    lease_s: float,
    now: datetime,
    agent: str | None = None,
) -> ClaimedStep | None:
    """Take the step's lease for ``lease_s`` seconds if it may run now (recording ``agent``,
    the claiming worker's host); None otherwise."""
    until = now + timedelta(seconds=lease_s)
    params = {"sid": step_id, "now": now, "owner": owner, "until": until, "agent": agent}
    result = conn.execute(_CLAIM, params)
    if result.rowcount != 1:
        return None
    return _claimed(conn, step_id)


def _claimed(conn: Connection, step_id: int) -> ClaimedStep:
    """Everything a worker needs to run the step it just claimed (one joined read: a plain
    read of the pipeline, since locking it after the step would invert the lock order)."""
    step = conn.execute(_CLAIMED, {"sid": step_id}).mappings().first()
    if step is None:
        raise StoreError(f"no step {step_id}")
    event = {c.name: step[f"ev_{c.name}"] for c in file_events.c}
    return ClaimedStep(
        step_id=step["id"],
        pipeline_id=step["pipeline_id"],
        event_id=event["id"],
        event=event_from_row(event),
        route=step["route"],
        position=step["position"],
        branch=step["branch"],
        name=step["name"],
        action=step["action"],
        attempt=step["attempts"],
        max_attempts=step["max_attempts"],
        idempotency_key=step["idempotency_key"],
        results=_earlier_results(conn, step["pipeline_id"], step["position"]),
        phase=step["phase"],
        undoes=step["undoes"],
        checkpoint=step["checkpoint"],
        started_at=step["started_at"],
        config_hash=step["config_hash"],
    )


def _get(conn: Connection, step_id: int) -> RowMapping:
    row = conn.execute(select(steps).where(steps.c.id == step_id)).mappings().first()
    if row is None:
        raise StoreError(f"no step {step_id}")
    return row


def _earlier_results(conn: Connection, pipeline_id: int, position: int) -> dict[str, JSONDict]:
    """Results of the pipeline's succeeded steps before ``position``, by step name."""
    if position <= 0:  # nothing runs before the first position
        return {}
    rows = conn.execute(_EARLIER_RESULTS, {"pid": pipeline_id, "pos": position})
    return {name: result or {} for name, result in rows}


def _held_by(step_id: int, owner: str) -> Any:
    """WHERE clause: the step is running under ``owner``'s lease."""
    return and_(steps.c.id == step_id, steps.c.status == RUNNING, steps.c.lease_owner == owner)


def _finished_values(
    conn: Connection, step_id: int, now: datetime, started: datetime | None = None
) -> dict[str, Any]:
    """Columns set when a step ends: finish time, duration since first start, no lease."""
    if started is None:
        started = conn.execute(select(steps.c.started_at).where(steps.c.id == step_id)).scalar()
    duration_ms = int((now - started).total_seconds() * 1000) if started else None
    return {
        "finished_at": now,
        "duration_ms": duration_ms,
        "lease_owner": None,
        "lease_expires_at": None,
    }


def save_checkpoint(
    conn: Connection, step_id: int, owner: str, data: JSONDict, lease_s: float, now: datetime
) -> bool:
    """Keep an action's progress and extend its lease, if ``owner`` still holds it."""
    done = conn.execute(
        update(steps)
        .where(_held_by(step_id, owner))
        .values(checkpoint=data, lease_expires_at=now + timedelta(seconds=lease_s))
    )
    return done.rowcount == 1


def renew_lease(conn: Connection, step_id: int, owner: str, lease_s: float, now: datetime) -> bool:
    """Extend the lease of a step ``owner`` still holds (the running attempt's heartbeat)."""
    # a cancelled pipeline refuses the renewal of a main step: the running action stops at its
    # next checkpoint (its undo steps, after a cancel with compensation, keep theirs)
    cancelled = select(pipelines_t.c.id).where(pipelines_t.c.cancel_requested.is_(True))
    done = conn.execute(
        update(steps)
        .where(
            _held_by(step_id, owner),
            or_(steps.c.phase != StepPhase.MAIN.value, steps.c.pipeline_id.not_in(cancelled)),
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
    )
    return done.rowcount == 1


def complete(
    conn: Connection,
    step_id: int,
    owner: str,
    result: JSONDict,
    now: datetime,
    started: datetime | None = None,
) -> bool:
    """Record the step succeeded, if ``owner`` still holds its lease (``started``: its first
    start, when the caller knows it)."""
    values = _finished_values(conn, step_id, now, started)
    params = {
        "sid": step_id,
        "owner": owner,
        "res": result,
        "fin": now,
        "dur": values["duration_ms"],
    }
    return conn.execute(COMPLETE, params).rowcount == 1


COMPLETE = (
    update(steps)
    .where(
        steps.c.id == bindparam("sid"),
        steps.c.status == RUNNING,
        steps.c.lease_owner == bindparam("owner"),
    )
    .values(
        status=StepStatus.SUCCEEDED.value,
        result=bindparam("res"),
        finished_at=bindparam("fin", type_=UTCDateTime()),
        duration_ms=bindparam("dur"),
        lease_owner=None,
        lease_expires_at=None,
    )
)


def retry(
    conn: Connection, step_id: int, owner: str, error: str, next_attempt_at: datetime
) -> bool:
    """Put the step back to pending until ``next_attempt_at``, if ``owner`` holds its lease.

    A step whose pipeline has failed meanwhile is cancelled instead (nothing would claim it).
    Raises :class:`StoreError` when no attempt is left: the caller must fail the step.
    """
    step = _get(conn, step_id)
    pipeline = pipelines.lock(conn, step["pipeline_id"])
    if step["attempts"] >= step["max_attempts"]:
        raise StoreError(
            f"step {step['name']} used {step['attempts']} of {step['max_attempts']} attempts: "
            "fail it instead of retrying"
        )
    active = pipeline["status"] in pipelines.ACTIVE
    if pipeline["cancel_requested"] and step["phase"] == StepPhase.MAIN:
        active = False  # cancelled with compensation: compensating, but this step is over
    status = PENDING if active else StepStatus.CANCELLED.value
    done = conn.execute(
        update(steps)
        .where(_held_by(step_id, owner))
        .values(
            status=status,
            last_error=error,
            next_attempt_at=next_attempt_at,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return done.rowcount == 1


def fail(
    conn: Connection,
    step_id: int,
    owner: str | None,
    error: str,
    now: datetime,
    recovery: list[StepPlan] | None = None,
) -> bool:
    """Record the step failed for good — under ``owner``'s lease, or (``owner`` None, the
    reconciler's poison cap) while running with an expired lease — then settle its pipeline.

    A failed main step fails the pipeline, or starts its compensation when ``recovery`` steps
    are given; the event ends once no pipeline of it is active. A failed undo or on_failure
    step only records itself: the caller advances to the next one.
    """
    step = _get(conn, step_id)
    pipeline = pipelines.lock(conn, step["pipeline_id"])
    values = _finished_values(conn, step_id, now)
    held = (
        _held_by(step_id, owner)
        if owner is not None
        else and_(steps.c.id == step_id, steps.c.status == RUNNING, steps.c.lease_expires_at < now)
    )
    done = conn.execute(
        update(steps).where(held).values(status=StepStatus.FAILED.value, last_error=error, **values)
    )
    if done.rowcount != 1:
        return False
    if step["phase"] == StepPhase.MAIN:
        reason = f"step {step['name']}: {error}"
        pipelines.fail(conn, step["pipeline_id"], reason, now, recovery)
        pipelines.finish_event(conn, pipeline["event_id"], now)
    return True


def row_with_route(conn: Connection, step_id: int) -> RoutedStep | None:
    """The step row plus its pipeline's ``route``, ``event_id`` and ``config_hash``, or None."""
    query = (
        select(steps, pipelines_t.c.route, pipelines_t.c.event_id, pipelines_t.c.config_hash)
        .join(pipelines_t, pipelines_t.c.id == steps.c.pipeline_id)
        .where(steps.c.id == step_id)
    )
    row = conn.execute(query).mappings().first()
    return RoutedStep.of(row) if row is not None else None


def rows_of(conn: Connection, pipeline_id: int) -> list[StepRow]:
    """Every step of the pipeline, in running order."""
    query = (
        select(steps)
        .where(steps.c.pipeline_id == pipeline_id)
        .order_by(steps.c.position, steps.c.branch)
    )
    return [StepRow.of(row) for row in conn.execute(query).mappings()]
