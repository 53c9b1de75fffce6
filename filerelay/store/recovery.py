"""Queries of the reconciler: work the broker lost, leases that expired, poison steps.

Each query is bounded (``limit``) and reads only rows old enough (``cutoff``) that a live
message would already have been taken; re-driving a step twice is harmless (claims dedupe).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, null, or_, select, update

from filerelay.model import EventState, StepStatus
from filerelay.store import pipelines
from filerelay.store import steps as steps_q
from filerelay.store.records import StepPlan
from filerelay.store.rows import PoisonedStep, StepCheckpoint
from filerelay.store.schema import file_events, steps
from filerelay.store.schema import pipelines as pipelines_t

RUNNING = StepStatus.RUNNING.value
PENDING = StepStatus.PENDING.value


def _at_position() -> Any:
    return exists().where(
        pipelines_t.c.id == steps.c.pipeline_id,
        pipelines_t.c.status.in_(pipelines.ACTIVE),
        pipelines_t.c.current_position == steps.c.position,
    )


def expired_leases(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Running steps whose lease expired with attempts left: their worker died."""
    query = (
        select(steps.c.id)
        .where(
            steps.c.status == RUNNING,
            steps.c.lease_expires_at < now,
            steps.c.attempts < steps.c.max_attempts,
            _at_position(),
        )
        .order_by(steps.c.id)
        .limit(limit)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def stalled_pipelines(conn: Connection, cutoff: datetime, limit: int) -> list[int]:
    """Active pipelines created before ``cutoff`` with no step left to run at their position
    (every step there ended): the advance after the last one did not happen."""
    open_step = exists().where(
        steps.c.pipeline_id == pipelines_t.c.id,
        steps.c.position == pipelines_t.c.current_position,
        steps.c.status.in_([PENDING, RUNNING]),
    )
    query = (
        select(pipelines_t.c.id)
        .where(
            pipelines_t.c.status.in_(pipelines.ACTIVE),
            pipelines_t.c.created_at < cutoff,
            ~open_step,
        )
        .order_by(pipelines_t.c.id)
        .limit(limit)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def overdue_steps(conn: Connection, cutoff: datetime, limit: int) -> list[int]:
    """Pending steps at their pipeline's position, due before ``cutoff`` (never started, in a
    pipeline created before it; or waiting for a retry due before it) — their message may be
    lost."""
    never_started = and_(
        steps.c.next_attempt_at.is_(None),
        steps.c.started_at.is_(None),
        exists().where(pipelines_t.c.id == steps.c.pipeline_id, pipelines_t.c.created_at < cutoff),
    )
    query = (
        select(steps.c.id)
        .where(
            steps.c.status == PENDING,
            or_(never_started, steps.c.next_attempt_at < cutoff),
            _at_position(),
        )
        .order_by(steps.c.id)
        .limit(limit)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def poisoned_steps(conn: Connection, now: datetime, limit: int) -> list[PoisonedStep]:
    """Running steps whose lease expired with no attempts left: the worker died on every
    attempt (a poison file); they will never be claimed again."""
    query = (
        select(steps.c.id, steps.c.name, steps.c.attempts, steps.c.pipeline_id)
        .where(
            steps.c.status == RUNNING,
            steps.c.lease_expires_at < now,
            steps.c.attempts >= steps.c.max_attempts,
        )
        .limit(limit)
    )
    return [PoisonedStep.of(r) for r in conn.execute(query).mappings()]


def fail_poisoned(
    conn: Connection, step_id: int, error: str, now: datetime, recovery: list[StepPlan] | None
) -> bool:
    """Fail a poisoned step (only while it still runs with an expired lease), then settle its
    pipeline as any failed step does (compensation when ``recovery`` is given)."""
    return steps_q.fail(conn, step_id, None, error, now, recovery)


def abandoned_checkpoints(conn: Connection, cutoff: datetime, limit: int) -> list[StepCheckpoint]:
    """Steps that ended (failed or cancelled) before ``cutoff`` still holding a checkpoint —
    e.g. the id of a multipart upload no attempt will finish."""
    query = (
        select(steps.c.id, steps.c.checkpoint)
        .where(
            steps.c.status.in_([StepStatus.FAILED.value, StepStatus.CANCELLED.value]),
            steps.c.checkpoint.is_not(None),
            steps.c.finished_at < cutoff,
        )
        .limit(limit)
    )
    return [StepCheckpoint.of(r) for r in conn.execute(query).mappings()]


def clear_checkpoint(conn: Connection, step_id: int) -> None:
    conn.execute(update(steps).where(steps.c.id == step_id).values(checkpoint=null()))


def known_dedup_keys(conn: Connection, keys: list[str]) -> set[str]:
    """Which of ``keys`` have an event row (of any state)."""
    query = select(file_events.c.dedup_key).where(file_events.c.dedup_key.in_(keys)).distinct()
    return {str(k) for k in conn.execute(query).scalars()}


def unrouted_events(conn: Connection, cutoff: datetime, limit: int) -> list[str]:
    """Events recorded ``queued`` before ``cutoff`` that never got a pipeline (the ingest
    task died between recording and routing)."""
    no_pipeline = ~exists().where(pipelines_t.c.event_id == file_events.c.id)
    query = (
        select(file_events.c.id)
        .where(
            file_events.c.state == EventState.QUEUED.value,
            file_events.c.updated_at < cutoff,
            no_pipeline,
        )
        .order_by(file_events.c.created_at)
        .limit(limit)
    )
    return [str(i) for i in conn.execute(query).scalars()]


def expire_leases_of(conn: Connection, owner_prefix: str, now: datetime) -> int:
    """End at once the leases of running steps whose owner starts with ``owner_prefix`` (a
    worker known to be dead): the next reconcile pass re-drives them."""
    pattern = owner_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    done = conn.execute(
        update(steps)
        .where(
            steps.c.status == RUNNING,
            steps.c.lease_owner.like(pattern, escape="\\"),
            steps.c.lease_expires_at >= now,
        )
        .values(lease_expires_at=now)
    )
    return int(done.rowcount)
