"""Deleting old events with their pipelines and steps, one short transaction per batch
(``filerelay db prune``): a long prune never holds the store's write lock for long. Each
batch also drops the summary's rollup rows past 8 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, select, update

from filerelay.store import summary_rollups
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines, steps


@dataclass
class Pruned:
    """How many rows a prune deleted (or would delete)."""

    events: int = 0
    pipelines: int = 0
    steps: int = 0

    def add(self, other: Pruned) -> None:
        self.events += other.events
        self.pipelines += other.pipelines
        self.steps += other.steps


def _selected(before: datetime, states: list[str]):  # type: ignore[no-untyped-def]
    return select(fe.c.id).where(fe.c.created_at < before, fe.c.state.in_(states))


def count(conn: Connection, before: datetime, states: list[str]) -> Pruned:
    """What a prune would delete."""
    ids = _selected(before, states).subquery()
    n_events = conn.execute(select(func.count()).select_from(ids)).scalar() or 0
    pipeline_ids = select(pipelines.c.id).where(pipelines.c.event_id.in_(select(ids.c.id)))
    n_pipelines = conn.execute(
        select(func.count()).where(pipelines.c.event_id.in_(select(ids.c.id)))
    ).scalar()
    n_steps = conn.execute(
        select(func.count()).where(steps.c.pipeline_id.in_(pipeline_ids))
    ).scalar()
    return Pruned(int(n_events), int(n_pipelines or 0), int(n_steps or 0))


def batch(conn: Connection, before: datetime, states: list[str], size: int) -> Pruned:
    """Delete up to ``size`` of the oldest selected events with their pipelines and steps.

    Rows outside the batch that name a deleted event as ``duplicate_of`` lose that link (the
    foreign key would refuse the delete otherwise); they keep their state.
    """
    summary_rollups.prune(conn, datetime.now(UTC))  # the summary's rows past 8 days
    ids = list(
        conn.execute(_selected(before, states).order_by(fe.c.created_at).limit(size)).scalars()
    )
    if not ids:
        return Pruned()
    pipeline_ids = list(
        conn.execute(select(pipelines.c.id).where(pipelines.c.event_id.in_(ids))).scalars()
    )
    n_steps = 0
    if pipeline_ids:
        n_steps = conn.execute(delete(steps).where(steps.c.pipeline_id.in_(pipeline_ids))).rowcount
        conn.execute(delete(pipelines).where(pipelines.c.id.in_(pipeline_ids)))
    conn.execute(
        update(fe).where(fe.c.duplicate_of.in_(ids), fe.c.id.not_in(ids)).values(duplicate_of=None)
    )
    n_events = conn.execute(delete(fe).where(fe.c.id.in_(ids))).rowcount
    return Pruned(n_events, len(pipeline_ids), n_steps)
