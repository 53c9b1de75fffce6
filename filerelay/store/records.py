"""What the store takes and gives back: plans in, records out, and event rows ↔ ``FileEvent``."""

from __future__ import annotations

from collections.abc import Mapping
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
    started_at: datetime | None = None  # of the first attempt (the step's duration counts from it)
    config_hash: str | None = None  # the rules version its pipeline runs with


@dataclass(frozen=True)
class StepRef:
    """A pending step to hand to a worker: enough to find its config and delay without a read."""

    step_id: int
    pipeline_id: int
    route: str
    position: int
    branch: int
    phase: str = "main"
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """What the runner decided about a detected file before it is recorded.

    ``plans`` (with ``config_hash``): the routes to run. Without plans, ``state`` (skipped,
    vanished, failed) and ``reason`` say why nothing runs.
    """

    plans: list[RoutePlan] = field(default_factory=list)
    config_hash: str = ""
    state: str = ""
    reason: str | None = None


@dataclass(frozen=True)
class InlineClaim:
    """Claim one first step of a new pipeline in the admitting transaction (the ingest task
    then runs it at once instead of sending a message for it)."""

    route: str
    position: int
    branch: int
    owner: str
    lease_s: float
    agent: str | None = None  # the claiming worker's host (recorded on the step)


@dataclass(frozen=True)
class Admission:
    """Outcome of :meth:`Store.admit`: the event as recorded, the first steps of the pipelines
    created for it (``first_steps``: to send), and the step claimed inline, if any."""

    recorded: RecordedEvent
    first_steps: list[StepRef] = field(default_factory=list)
    claimed: ClaimedStep | None = None
    created: bool = False  # pipelines were created by this call


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
    refs: list[StepRef] = field(default_factory=list, compare=False)  # next_steps, described
    #: this call (or, for :meth:`Store.fail_and_advance`, its transaction) ended the event:
    #: of the workers finishing an event's last pipelines, exactly one sees it
    event_finished_now: bool = field(default=False, compare=False)


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
        "agent": event.agent,
        "stable_signal": str(event.stable_signal),
        "detected_at": datetime.fromtimestamp(event.detected_at, UTC),
    }


def event_from_row(row: Mapping[str, Any] | RowMapping) -> FileEvent:
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
        agent=row.get("agent") or "",
        stable_signal=row["stable_signal"],
        detected_at=row["detected_at"].timestamp(),
    )
