"""Builders of the store tests (file events, route plans), the steps a worker takes, and
reads of what the store recorded (also used by the end-to-end and chaos tests)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from filerelay.model import EventState, FileEvent
from filerelay.store import Advance, RecordedEvent, RoutePlan, StepPlan, Store, Verdict
from filerelay.store.db import read_only
from filerelay.store.listing import EventFilter
from filerelay.store.rows import EventRow
from filerelay.store.schema import file_events
from tests.factories import file_event

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_inodes = itertools.count(1000)


def make_event(
    relpath: str = "in/a.bin", *, size: int = 10, inode: int | None = None, **fields: object
) -> FileEvent:
    """A file event for ``relpath`` in source ``cam``; each call a new file version."""
    ino = next(_inodes) if inode is None else inode
    values: dict[str, Any] = {"source": "cam", "tags": {"team": "vision"}, "host": "h1", **fields}
    return file_event(relpath, root="/data/cam", size=size, inode=ino, **values)


def step(position: int, name: str, branch: int = 0, max_attempts: int = 3) -> StepPlan:
    return StepPlan(
        position=position, branch=branch, name=name, action="copy", max_attempts=max_attempts
    )


def plan(route: str, *steps: StepPlan) -> RoutePlan:
    return RoutePlan(route=route, steps=list(steps))


# --- driving the store the way the ingest and step tasks do ----------------------------------


def record(store: Store, event: FileEvent) -> RecordedEvent:
    """Record ``event`` with its routing still to come (``queued``, no pipelines): an admit
    whose verdict has no plans yet."""
    return store.admit(event, Verdict(state=EventState.QUEUED)).recorded


def admit(store: Store, event: FileEvent, *plans: RoutePlan, config_hash: str = "h") -> list[int]:
    """Admit ``event`` routed to ``plans`` as the ingest task does; the ids of the pipelines
    this call created (none for a redelivery or a duplicate)."""
    admitted = store.admit(event, Verdict(list(plans), config_hash))
    return list(dict.fromkeys(ref.pipeline_id for ref in admitted.first_steps))


def steps_at(store: Store, pipeline_id: int, position: int) -> list[int]:
    """Ids of the pipeline's steps at ``position``, by branch."""
    return [s.id for s in store.steps_of(pipeline_id) if s.position == position]


def run_step(
    store: Store, step_id: int, result: dict[str, object] | None = None, owner: str = "w"
) -> Advance:
    """Claim a step and complete it the way a worker does (it then advances its pipeline)."""
    claim = store.claim_step(step_id, owner, 60)
    assert claim is not None
    adv = store.succeed_step(claim, owner, {"ok": True} if result is None else result)
    assert adv is not None
    return adv


def fail_step(
    store: Store, step_id: int, error: str, recovery: list[StepPlan] | None = None
) -> Advance:
    """Claim a step and fail it for good the way a worker does."""
    claim = store.claim_step(step_id, "w", 60)
    assert claim is not None
    adv = store.fail_and_advance(claim, "w", error, recovery)
    assert adv is not None
    return adv


# --- reading what the store recorded ---------------------------------------------------------


def listed(store: Store, state: str | None = None, limit: int = 1000) -> list[EventRow]:
    """Events (in ``state``), newest first: the first page of ``events list``."""
    return store.list_page(EventFilter(state=state), limit).rows


def count_by_state(store: Store) -> dict[str, int]:
    """Number of events per state (states with none left out)."""
    return store.count_by_state_since(EPOCH)


def events_by_relpath(store: Store, source: str, relpath: str) -> list[EventRow]:
    """Every recorded version of one file, oldest first."""
    query = (
        select(file_events)
        .where(file_events.c.source == source, file_events.c.relpath == relpath)
        .order_by(file_events.c.created_at, file_events.c.id)
    )
    with read_only(store.engine).connect() as conn:
        return [EventRow.of(row) for row in conn.execute(query).mappings()]
