"""Cancelling a pipeline: ``cancel_requested`` set, pending steps ``cancelled``, the pipeline
``failed`` with the reason (so nothing claims its steps any more), and the event settled.

A step running at that moment keeps its row until its worker stops it: its next lease
renewal fails (:func:`filerelay.store.steps.renew_lease` refuses a cancelled pipeline), and
the action stops at its next checkpoint; what it records then changes nothing downstream,
as the pipeline is no longer active.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from filerelay.model import PipelineStatus, StepStatus
from filerelay.store import pipelines
from filerelay.store.schema import pipelines as pipelines_table
from filerelay.store.schema import steps


def request(conn: Connection, pipeline_id: int, reason: str, now: datetime) -> tuple[bool, int]:
    """Cancel the pipeline; (False, 0) when it is not running (finished or compensating).

    Returns (done, running steps told through their lease)."""
    row = pipelines.lock(conn, pipeline_id)
    if row["status"] != PipelineStatus.RUNNING.value:
        return False, 0
    conn.execute(
        update(pipelines_table)
        .where(pipelines_table.c.id == pipeline_id)
        .values(
            cancel_requested=True,
            status=PipelineStatus.FAILED.value,
            error=reason,
            finished_at=now,
        )
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
    pipelines.settle_event(conn, row["event_id"], now)
    return True, len(running)
