"""Cancelling a pipeline: ``cancel_requested`` set, pending steps ``cancelled``, the pipeline
``failed`` with the reason (so nothing claims its steps any more), and the event settled.

A step running at that moment keeps its row until its worker stops it: its next lease
renewal fails (:func:`filerelay.store.steps.renew_lease` refuses a cancelled pipeline's main
steps), and the action stops at its next checkpoint; what it records then changes nothing
downstream, as the pipeline is no longer active.

Cancelled *with compensation*, the pipeline goes to ``compensating`` instead and waits —
no main step of it can be claimed or retried any more — until none of its main steps runs;
then :func:`start_compensation` (the reconciler's) appends the undo steps of its completed
steps, which run as a failed pipeline's compensation does, and the pipeline ends ``failed``
(or ``compensation_failed``) with the cancel's reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Exists, exists, func, select, update
from sqlalchemy.engine import RowMapping

from filerelay.model import PipelineStatus, StepPhase, StepStatus
from filerelay.store import pipelines
from filerelay.store.access import Transactions, translated
from filerelay.store.db import utcnow
from filerelay.store.records import Advance, StepPlan
from filerelay.store.rows import PipelineRow
from filerelay.store.schema import pipelines as pipelines_table
from filerelay.store.schema import steps

COMPENSATING = PipelineStatus.COMPENSATING.value


def request(
    conn: Connection, pipeline_id: int, reason: str, now: datetime, compensate: bool = False
) -> tuple[bool, int]:
    """Cancel the pipeline; (False, 0) when it is not running (finished or compensating).

    Returns (done, running steps told through their lease)."""
    row = pipelines.lock(conn, pipeline_id)
    if row["status"] != PipelineStatus.RUNNING.value:
        return False, 0
    values: dict[str, object] = {"cancel_requested": True, "error": reason}
    if compensate:  # active still, until its undo steps have run
        values["status"] = COMPENSATING
    else:
        values.update(status=PipelineStatus.FAILED.value, finished_at=now)
    conn.execute(
        update(pipelines_table).where(pipelines_table.c.id == pipeline_id).values(**values)
    )
    conn.execute(
        update(steps)
        .where(steps.c.pipeline_id == pipeline_id, steps.c.status == StepStatus.PENDING.value)
        .values(status=StepStatus.CANCELLED.value, finished_at=now, last_error=reason)
    )
    running = conn.execute(
        select(steps.c.id).where(
            steps.c.pipeline_id == pipeline_id, steps.c.status == StepStatus.RUNNING.value
        )
    ).all()
    if not compensate:
        pipelines.settle_event(conn, row["event_id"], now)
    return True, len(running)


def _has_recovery(pipeline_id: Any) -> Exists:
    return exists().where(steps.c.pipeline_id == pipeline_id, steps.c.phase != StepPhase.MAIN.value)


def awaits_plan(conn: Connection, row: RowMapping) -> bool:
    """True for a pipeline cancelled with compensation whose undo steps are not there yet
    (``row``: its pipelines row): nothing may advance it before they are."""
    if row["status"] != COMPENSATING or not row["cancel_requested"]:
        return False
    return not conn.execute(select(_has_recovery(row["id"]))).scalar()


def awaiting(conn: Connection, limit: int) -> list[int]:
    """Pipelines cancelled with compensation whose undo steps are still to be planned."""
    query = (
        select(pipelines_table.c.id)
        .where(
            pipelines_table.c.status == COMPENSATING,
            pipelines_table.c.cancel_requested.is_(True),
            ~_has_recovery(pipelines_table.c.id),
        )
        .order_by(pipelines_table.c.id)
        .limit(limit)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def start_compensation(
    conn: Connection, pipeline_id: int, plans: list[StepPlan], now: datetime
) -> Advance | None:
    """Append ``plans`` (the undo steps) to a pipeline cancelled with compensation and
    advance to the first; with no plan, end it ``failed``. None while one of its main steps
    still runs under a live lease (its worker has not stopped it yet) or when it is not
    waiting for its plan (another process started it)."""
    row = pipelines.lock(conn, pipeline_id)
    if not awaits_plan(conn, row):
        return None
    live = conn.execute(
        select(func.count()).where(
            steps.c.pipeline_id == pipeline_id,
            steps.c.status == StepStatus.RUNNING.value,
            steps.c.lease_expires_at >= now,
        )
    ).scalar()
    if live:
        return None
    # a worker that died holding a main step: its claim lapsed and nothing may run it again
    conn.execute(
        update(steps)
        .where(steps.c.pipeline_id == pipeline_id, steps.c.status == StepStatus.RUNNING.value)
        .values(
            status=StepStatus.CANCELLED.value,
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    if plans:
        pipelines.append_recovery(conn, pipeline_id, plans)
        return pipelines.advance(conn, pipeline_id, now)
    failed = PipelineStatus.FAILED.value
    conn.execute(
        update(pipelines_table)
        .where(pipelines_table.c.id == pipeline_id)
        .values(status=failed, finished_at=now)
    )
    state, ended = pipelines.settle_event(conn, row["event_id"], now)
    return Advance([], failed, state, event_finished_now=ended)


class CancelStore(Transactions):
    """The reconciler's side of cancels with compensation."""

    @translated
    def awaiting_compensation(self, limit: int = 100) -> list[int]:
        """See :func:`awaiting`."""
        with self._read() as conn:
            return awaiting(conn, limit)

    @translated
    def pipeline(self, pipeline_id: int) -> PipelineRow | None:
        """One pipeline's row, or None."""
        query = select(pipelines_table).where(pipelines_table.c.id == pipeline_id)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
            return PipelineRow.of(row) if row is not None else None

    @translated
    def start_compensation(self, pipeline_id: int, plans: list[StepPlan]) -> Advance | None:
        """See :func:`start_compensation`."""
        with self._write() as conn:
            return start_compensation(conn, pipeline_id, plans, utcnow())
