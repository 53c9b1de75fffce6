"""Step outcomes for the live stream (the API's SSE poller): the steps that started, ended,
or were put back to wait for a retry, each with its pipeline's event and route.

Reads the indexed ``finished_at`` and ``(status, next_attempt_at)`` columns and the few
running steps, so a poll costs the same with a million steps as with ten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from filerelay.model import StepStatus
from filerelay.store.access import Transactions, translated
from filerelay.store.db import as_utc
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines, steps

#: the state a step waiting for its next attempt is reported in
RETRYING = "retrying"

_COLUMNS = (
    steps.c.id,
    steps.c.pipeline_id,
    pipelines.c.event_id,
    fe.c.source,
    pipelines.c.route,
    steps.c.name,
    steps.c.action,
    steps.c.phase,
    steps.c.status,
    steps.c.attempts,
    steps.c.max_attempts,
    steps.c.last_error,
    steps.c.started_at,
    steps.c.finished_at,
    steps.c.next_attempt_at,
)


def step_outcomes_since(conn: Connection, since: datetime, limit: int) -> list[dict[str, Any]]:
    """Steps running now, ended at or after ``since``, or retrying since then, oldest first:
    ``{id, pipeline_id, event_id, source, route, name, action, phase, attempt, max_attempts,
    state, error, at}``."""
    pending, running = StepStatus.PENDING.value, StepStatus.RUNNING.value
    # three queries, each on its own index, rather than one OR a planner may scan for
    conditions: list[ColumnElement[bool]] = [
        steps.c.finished_at >= since,
        (steps.c.status == pending) & (steps.c.next_attempt_at >= since),
        steps.c.status == running,
    ]
    rows = []
    for condition in conditions:
        query = (
            select(*_COLUMNS)
            .join(pipelines, pipelines.c.id == steps.c.pipeline_id)
            .join(fe, fe.c.id == pipelines.c.event_id)
            .where(condition)
            .limit(limit)
        )
        rows += list(conn.execute(query).mappings())
    out = []
    for r in rows:
        waiting = r["status"] == pending and r["last_error"] is not None
        state = RETRYING if waiting else r["status"]
        at = r["finished_at"] or (r["started_at"] if state == running else r["next_attempt_at"])
        out.append(
            {
                "id": r["id"],
                "pipeline_id": r["pipeline_id"],
                "event_id": r["event_id"],
                "source": r["source"],
                "route": r["route"],
                "name": r["name"],
                "action": r["action"],
                "phase": r["phase"],
                "attempt": r["attempts"],
                "max_attempts": r["max_attempts"],
                "state": state,
                "error": r["last_error"] if state != StepStatus.SUCCEEDED.value else None,
                "at": at,
                "next_attempt_at": r["next_attempt_at"] if waiting else None,
            }
        )
    return sorted(out, key=lambda o: (o["at"] is None, o["at"] or since, o["id"]))


class StepOutcomes(Transactions):
    """The live stream's reads of step outcomes."""

    @translated
    def since(self, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        """See :func:`step_outcomes_since`."""
        with self._read() as conn:
            return step_outcomes_since(conn, as_utc(since), limit)
