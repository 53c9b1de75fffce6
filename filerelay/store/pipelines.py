"""Queries on ``pipelines``: creating route runs, moving them forward, finishing the event.

Lock order, kept everywhere so PostgreSQL transactions cannot deadlock: a pipeline row
before the event row. Functions run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, insert, select, update
from sqlalchemy.engine import RowMapping

from filerelay.errors import StoreError
from filerelay.model import EventState, PipelineStatus, StepPhase, StepStatus
from filerelay.store import events
from filerelay.store.records import Advance, RoutePlan, StepPlan, StepRef
from filerelay.store.rows import PipelineRow
from filerelay.store.schema import pipelines, steps
from filerelay.store.states import EVENT


def create(
    conn: Connection, event_id: str, plans: list[RoutePlan], config_hash: str, now: datetime
) -> list[int]:
    """Create one pipeline per plan and move the event to ``processing``; idempotent.

    A ``queued`` event gets a new run (1, or one more than its last: a reprocess). For an
    event already past ``queued`` the pipelines of its latest run are returned as they are.
    """
    _check_plans(plans)
    event = events.get(conn, event_id, lock=True)
    if event is None:
        raise StoreError(f"no event {event_id}")
    last_run = _last_run(conn, event_id)
    if event["state"] != EventState.QUEUED:
        existing = _run_ids(conn, event_id, last_run, [p.route for p in plans])
        if existing:
            return existing
        EVENT.check(event["state"], EventState.PROCESSING.value)
    run = (last_run or 0) + 1
    ids = [insert_run(conn, event, plan, run, config_hash, now) for plan in plans]
    events.transition(conn, event_id, EventState.PROCESSING.value, now)
    return ids


def _check_plans(plans: list[RoutePlan]) -> None:
    """Reject plans the store cannot run: none at all, a route without steps, name clashes."""
    if not plans:
        raise ValueError("no route plans: mark the event skipped instead")
    for plan in plans:
        names = [s.name for s in plan.steps]
        if not names:
            raise ValueError(f"route {plan.route!r} has no steps")
        if len(set(names)) != len(names):
            raise ValueError(f"route {plan.route!r} has duplicate step names {names}")


def _last_run(conn: Connection, event_id: str) -> int | None:
    query = select(func.max(pipelines.c.run)).where(pipelines.c.event_id == event_id)
    return conn.execute(query).scalar()


def _run_ids(conn: Connection, event_id: str, run: int | None, routes: list[str]) -> list[int]:
    """Ids of the run's pipelines for ``routes``, in the routes' order."""
    if run is None:
        return []
    query = select(pipelines.c.route, pipelines.c.id).where(
        pipelines.c.event_id == event_id, pipelines.c.run == run
    )
    by_route = {route: pid for route, pid in conn.execute(query)}
    return [by_route[r] for r in routes if r in by_route]


def insert_run(
    conn: Connection,
    event: Mapping[str, Any] | RowMapping,
    plan: RoutePlan,
    run: int,
    config_hash: str,
    now: datetime,
) -> int:
    """Insert one pipeline and its steps (``event``: its ``id`` and ``dedup_key``); returns
    the pipeline id."""
    result = conn.execute(
        insert(pipelines).values(
            event_id=event["id"],
            route=plan.route,
            run=run,
            config_hash=config_hash,
            status=PipelineStatus.RUNNING.value,
            current_position=min(s.position for s in plan.steps),
            created_at=now,
        )
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - both dialects report the new id
        raise StoreError("the database did not return the new pipeline id")
    pipeline_id = int(key[0])
    prefix = f"{event['dedup_key']}:{plan.route}"
    rows = [step_values(pipeline_id, prefix, s, s.position, s.branch) for s in plan.steps]
    conn.execute(insert(steps), rows)
    return pipeline_id


def step_values(
    pipeline_id: int, key_prefix: str, plan: StepPlan, position: int, branch: int
) -> dict[str, Any]:
    """Column values of a new, pending step row at ``position``/``branch``; its idempotency
    key is ``{key_prefix}:{name}`` (``key_prefix``: the event's dedup key and the route)."""
    return {
        "pipeline_id": pipeline_id,
        "position": position,
        "branch": branch,
        "name": plan.name,
        "action": plan.action,
        "status": StepStatus.PENDING.value,
        "attempts": 0,
        "max_attempts": plan.max_attempts,
        "idempotency_key": f"{key_prefix}:{plan.name}",
        "next_attempt_at": plan.not_before,
        "phase": plan.phase,
        "undoes": plan.undoes,
    }


_GET = select(pipelines).where(pipelines.c.id == bindparam("pid"))
_GET_LOCKED = _GET.with_for_update()


def get(conn: Connection, pipeline_id: int, lock: bool = False) -> RowMapping:
    """The pipeline row, locked for update when ``lock``; raises if there is none."""
    row = conn.execute(_GET_LOCKED if lock else _GET, {"pid": pipeline_id}).mappings().first()
    if row is None:
        raise StoreError(f"no pipeline {pipeline_id}")
    return row


def lock(conn: Connection, pipeline_id: int) -> RowMapping:
    """The pipeline row, locked for update (PostgreSQL; SQLite holds the file lock)."""
    return get(conn, pipeline_id, lock=True)


ACTIVE = (PipelineStatus.RUNNING.value, PipelineStatus.COMPENSATING.value)
_DONE_WHILE_RUNNING = frozenset({StepStatus.SUCCEEDED.value})
# while compensating, a failed undo or on_failure step does not stop the ones after it
_DONE_WHILE_COMPENSATING = frozenset(
    {StepStatus.SUCCEEDED.value, StepStatus.FAILED.value, StepStatus.CANCELLED.value}
)


#: The pipeline's steps from a position on: what advancing needs, in one statement.
_AHEAD = (
    select(
        steps.c.id,
        steps.c.position,
        steps.c.branch,
        steps.c.status,
        steps.c.attempts,
        steps.c.phase,
        steps.c.next_attempt_at,
    )
    .where(steps.c.pipeline_id == bindparam("pid"), steps.c.position >= bindparam("pos"))
    .order_by(steps.c.position, steps.c.branch)
)
MOVE_TO = (
    update(pipelines)
    .where(pipelines.c.id == bindparam("pid"), pipelines.c.current_position == bindparam("pos"))
    .values(current_position=bindparam("following"))
)


_HAS_RECOVERY = select(
    exists().where(steps.c.pipeline_id == bindparam("pid"), steps.c.phase != StepPhase.MAIN.value)
)


def advance(conn: Connection, pipeline_id: int, now: datetime) -> Advance:
    """Move the pipeline past its current position once every step there is done."""
    pipeline = lock(conn, pipeline_id)
    status = pipeline["status"]
    if status not in ACTIVE:
        state, _ = _finished(conn, pipeline["event_id"], now)  # finished before, if at all
        return Advance([], status, state)
    cancelled = pipeline["cancel_requested"] and status == PipelineStatus.COMPENSATING
    if cancelled and not conn.execute(_HAS_RECOVERY, {"pid": pipeline_id}).scalar():
        return Advance([], status)  # cancelled: waits for its undo steps (store.cancel)
    position = pipeline["current_position"]
    ahead = conn.execute(_AHEAD, {"pid": pipeline_id, "pos": position}).all()
    here = [r for r in ahead if r.position == position]
    done = _DONE_WHILE_RUNNING if status == PipelineStatus.RUNNING else _DONE_WHILE_COMPENSATING
    if all(r.status in done for r in here):
        later = [r for r in ahead if r.position > position]
        if not later:
            final = _final_status(conn, pipeline_id, status)
            _set_status(conn, pipeline_id, final, now, from_status=status)
            state, now_done = _finished(conn, pipeline["event_id"], now)
            return Advance([], final, state, event_finished_now=now_done)
        following = later[0].position
        conn.execute(MOVE_TO, {"pid": pipeline_id, "pos": position, "following": following})
        here = [r for r in later if r.position == following]
    refs = [
        StepRef(
            step_id=int(r.id),
            pipeline_id=pipeline_id,
            route=pipeline["route"],
            position=r.position,
            branch=r.branch,
            phase=r.phase,
            next_attempt_at=r.next_attempt_at,
        )
        for r in here
        if r.status == StepStatus.PENDING and r.attempts == 0
    ]
    return Advance([ref.step_id for ref in refs], status, refs=refs)


def _final_status(conn: Connection, pipeline_id: int, status: str) -> str:
    """succeeded for a running pipeline at its end; for a compensating one, failed — or
    compensation_failed when an undo or on_failure step failed too."""
    if status == PipelineStatus.RUNNING:
        return PipelineStatus.SUCCEEDED.value
    failed_recovery = conn.execute(
        select(func.count()).where(
            steps.c.pipeline_id == pipeline_id,
            steps.c.phase != StepPhase.MAIN.value,
            steps.c.status == StepStatus.FAILED.value,
        )
    ).scalar()
    return (
        PipelineStatus.COMPENSATION_FAILED.value if failed_recovery else PipelineStatus.FAILED.value
    )


def _finished(conn: Connection, event_id: str, now: datetime) -> tuple[str | None, bool]:
    """The event's state if it is no longer processing (after trying to finish it), and
    whether this call finished it."""
    state, changed = settle_event(conn, event_id, now)
    return (None if state == EventState.PROCESSING else state), changed


def _set_status(
    conn: Connection,
    pipeline_id: int,
    status: str,
    now: datetime,
    error: str | None = None,
    from_status: str = PipelineStatus.RUNNING.value,
) -> bool:
    """Move a pipeline from ``from_status`` (finishing it unless it starts compensating);
    False if it was no longer there. The error, once set, is kept."""
    values: dict[str, Any] = {"status": status}
    if error is not None:
        values["error"] = error
    if status != PipelineStatus.COMPENSATING:
        values["finished_at"] = now
    result = conn.execute(
        update(pipelines)
        .where(pipelines.c.id == pipeline_id, pipelines.c.status == from_status)
        .values(**values)
    )
    return result.rowcount == 1


def fail(
    conn: Connection,
    pipeline_id: int,
    error: str,
    now: datetime,
    recovery: list[StepPlan] | None = None,
) -> bool:
    """A main step failed for good: cancel the pipeline's pending steps, then either fail it,
    or — with ``recovery`` steps (undo, on_failure) — append them and start compensating."""
    status = PipelineStatus.COMPENSATING.value if recovery else PipelineStatus.FAILED.value
    if not _set_status(conn, pipeline_id, status, now, error):
        return False
    conn.execute(
        update(steps)
        .where(steps.c.pipeline_id == pipeline_id, steps.c.status == StepStatus.PENDING.value)
        .values(status=StepStatus.CANCELLED.value, finished_at=now)
    )
    if recovery:
        append_recovery(conn, pipeline_id, recovery)
    return True


def append_recovery(conn: Connection, pipeline_id: int, plans: list[StepPlan]) -> None:
    """Insert undo/on_failure steps, one position each, after the last step; point the
    pipeline at the first of them."""
    pipeline = get(conn, pipeline_id)
    event = events.get(conn, pipeline["event_id"])
    assert event is not None
    last = conn.execute(
        select(func.max(steps.c.position)).where(steps.c.pipeline_id == pipeline_id)
    ).scalar()
    first = int(last or 0) + 1
    prefix = f"{event['dedup_key']}:{pipeline['route']}"
    rows = [step_values(pipeline_id, prefix, p, first + i, 0) for i, p in enumerate(plans)]
    conn.execute(insert(steps), rows)
    conn.execute(
        update(pipelines).where(pipelines.c.id == pipeline_id).values(current_position=first)
    )


_RUNS_OF = (
    select(pipelines.c.run, pipelines.c.status, pipelines.c.error)
    .where(pipelines.c.event_id == bindparam("eid"))
    .order_by(pipelines.c.id)
)


def finish_event(conn: Connection, event_id: str, now: datetime) -> str:
    """End a ``processing`` event once every pipeline of its latest run is terminal.

    Succeeded if all succeeded; failed with the first failed pipeline's error otherwise.
    Returns the event's state after the call. Locks the event row first, so of two
    pipelines finishing at once the later transaction sees both.
    """
    return settle_event(conn, event_id, now)[0]


def settle_event(conn: Connection, event_id: str, now: datetime) -> tuple[str, bool]:
    """:func:`finish_event`, also telling whether this call ended the event."""
    state = events.state_for_update(conn, event_id)
    if state is None:
        raise StoreError(f"no event {event_id}")
    if state != EventState.PROCESSING:
        return state, False
    end = event_end(conn.execute(_RUNS_OF, {"eid": event_id}).all())
    if end is None:
        return state, False
    events.transition(conn, event_id, end[0], now, end[1])
    return end[0], True


def event_end(runs: Sequence[Any]) -> tuple[str, str | None] | None:
    """The final state and reason of an event whose pipelines are ``runs`` (rows with ``run``,
    ``status`` and ``error``, oldest first); None while one of its latest run is active."""
    latest = max((r.run for r in runs), default=None)
    mine = [(r.status, r.error) for r in runs if r.run == latest]
    if any(status in ACTIVE for status, _ in mine):
        return None
    errors = [
        error if status == PipelineStatus.FAILED else f"{error} (and compensation failed)"
        for status, error in mine
        if status in (PipelineStatus.FAILED, PipelineStatus.COMPENSATION_FAILED)
    ]
    if errors:
        return EventState.FAILED.value, errors[0]
    return EventState.SUCCEEDED.value, None


def rows_of(conn: Connection, event_id: str) -> list[PipelineRow]:
    """Every pipeline of the event, oldest first."""
    query = select(pipelines).where(pipelines.c.event_id == event_id).order_by(pipelines.c.id)
    return [PipelineRow.of(row) for row in conn.execute(query).mappings()]
