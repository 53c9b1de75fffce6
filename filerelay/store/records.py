"""What the store takes and gives back: plans in, records out, and event rows ↔ ``FileEvent``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import RowMapping

from filerelay.model import FileEvent, JSONDict


@dataclass(frozen=True)
class StepPlan:
    """One step of a route as the store records it.

    Steps run in ``position`` order; siblings of a ``parallel:`` block share a position and
    differ in ``branch``. ``name`` is unique within the route (it keys results and the
    idempotency key).
    """

    position: int
    branch: int
    name: str
    action: str
    max_attempts: int
    not_before: datetime | None = None  # first claim not before this (a closed time window)
    phase: str = "main"  # main | undo | on_failure
    undoes: int | None = None  # for an undo: the step row whose effect it compensates


@dataclass(frozen=True)
class RoutePlan:
    """The steps one matched route runs over an event."""

    route: str
    steps: list[StepPlan]


@dataclass(frozen=True)
class RecordedEvent:
    """Outcome of :meth:`Store.record_event`.

    ``is_new``: the caller should go on with the ingest (route it, create pipelines) — true
    for a fresh ``queued`` row and for a redelivered ingest of an event still ``queued``.
    """

    event_id: str
    state: str
    is_new: bool
    duplicate_of: str | None = None


@dataclass(frozen=True)
class ClaimedStep:
    """A step this worker now holds the lease of: everything needed to run it."""

    step_id: int
    pipeline_id: int
    event_id: str
    event: FileEvent
    route: str
    position: int
    branch: int
    name: str
    action: str
    attempt: int
    max_attempts: int
    idempotency_key: str
    results: dict[str, JSONDict] = field(default_factory=dict)
    phase: str = "main"
    undoes: int | None = None
    checkpoint: JSONDict | None = None


@dataclass(frozen=True)
class Advance:
    """Outcome of :meth:`Store.advance`.

    ``next_steps``: pending, never-claimed steps at the pipeline's current position — enqueue
    them (a step enqueued twice is harmless: the second claim finds it taken).
    ``event_state``: the event's state once it is no longer ``processing`` (every pipeline
    of it terminal: ``succeeded`` or ``failed``), else ``None``.
    """

    next_steps: list[int]
    pipeline_status: str
    event_state: str | None = None


def event_values(event: FileEvent) -> dict[str, Any]:
    """Column values of ``event`` (without state and bookkeeping columns)."""
    return {
        "id": event.event_id,
        "source": event.source,
        "path": event.path,
        "relpath": event.relpath,
        "size": event.size,
        "mtime_ns": event.mtime_ns,
        "ctime_ns": event.ctime_ns,
        "inode": event.inode,
        "device": event.device,
        "dedup_key": event.dedup_key,
        "sha256": event.sha256,
        "tags": dict(event.tags),
        "host": event.host,
        "stable_signal": str(event.stable_signal),
        "detected_at": datetime.fromtimestamp(event.detected_at, UTC),
    }


def event_from_row(row: RowMapping) -> FileEvent:
    """Rebuild the ``FileEvent`` a ``file_events`` row was recorded from."""
    return FileEvent(
        event_id=row["id"],
        source=row["source"],
        path=row["path"],
        relpath=row["relpath"],
        size=row["size"],
        mtime_ns=row["mtime_ns"],
        ctime_ns=row["ctime_ns"],
        inode=row["inode"],
        device=row["device"],
        dedup_key=row["dedup_key"],
        sha256=row["sha256"],
        tags=row["tags"] or {},
        host=row["host"],
        stable_signal=row["stable_signal"],
        detected_at=row["detected_at"].timestamp(),
    )
