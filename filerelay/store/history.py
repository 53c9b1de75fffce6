"""Queries behind ``filerelay events show`` and ``reprocess``: one event's timeline (every
run, pipeline and step), finding events by absolute path, and the rules a run used."""

from __future__ import annotations

from pathlib import PurePosixPath

from sqlalchemy import Connection, select

from filerelay.store.rows import EventRow, PipelineRun, StepRow
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines, steps


def timeline(conn: Connection, event_id: str) -> list[PipelineRun]:
    """Every pipeline of the event (all runs, oldest first), each with its ``steps``."""
    query = select(pipelines).where(pipelines.c.event_id == event_id).order_by(pipelines.c.id)
    runs = list(conn.execute(query).mappings())
    if not runs:
        return []
    step_query = (
        select(steps)
        .where(steps.c.pipeline_id.in_([r["id"] for r in runs]))
        .order_by(steps.c.pipeline_id, steps.c.position, steps.c.branch)
    )
    by_pipeline: dict[int, list[StepRow]] = {r["id"]: [] for r in runs}
    for row in conn.execute(step_query).mappings():
        by_pipeline[row["pipeline_id"]].append(StepRow.of(row))
    return [PipelineRun.of(run, steps=tuple(by_pipeline[run["id"]])) for run in runs]


def relpath_candidates(path: str) -> list[str]:
    """Every trailing part of an absolute path: one of them is its relpath in its source."""
    parts = PurePosixPath(path).parts[1:]
    return ["/".join(parts[i:]) for i in range(len(parts))]


def by_path(conn: Connection, path: str) -> list[EventRow]:
    """Every recorded version of the file at absolute ``path``, oldest first.

    Looked up through the relpath index (every suffix of the path is a candidate relpath),
    so it needs no config and no scan of the table.
    """
    candidates = relpath_candidates(path)
    if not candidates:
        return []
    query = (
        select(fe)
        .where(fe.c.relpath.in_(candidates), fe.c.path == path)
        .order_by(fe.c.created_at, fe.c.id)
    )
    return [EventRow.of(r) for r in conn.execute(query).mappings()]


def last_config_hash(conn: Connection, event_id: str) -> str | None:
    """SHA-256 of the rules the event's latest pipeline ran with, or None (never routed)."""
    query = (
        select(pipelines.c.config_hash)
        .where(pipelines.c.event_id == event_id)
        .order_by(pipelines.c.run.desc(), pipelines.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()
