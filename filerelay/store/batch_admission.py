"""Admitting an ingest batch's events set-wise: each recorded, its pipelines created and one
first step claimed exactly as :func:`filerelay.store.admission.admit` does one by one, in four
statements for the whole batch instead of six per event.

The set-wise path covers the common case: every event new — no row has its id, no primary
row its dedup key — and no two events of the batch sharing an id or a dedup key. Then each
event's answer cannot depend on another's, and the batch is written as: one read of what is
known, the event rows in one ``executemany``, the pipeline rows and the step rows each in one
multi-row ``INSERT … RETURNING`` (ids back in the order given). The step claimed inline is
inserted already ``running`` under its lease — what inserting it ``pending`` and claiming it
at once in the same transaction leaves, without the second statement. Any other batch (a
redelivery, a reprocess, a duplicate version) goes through :func:`admission.admit` event by
event, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select

from filerelay.model import EventState, FileEvent, PipelineStatus, StepStatus
from filerelay.store import admission, pipelines, rollups
from filerelay.store.records import (
    Admission,
    ClaimedStep,
    InlineClaim,
    RecordedEvent,
    RoutePlan,
    StepPlan,
    StepRef,
    Verdict,
    event_values,
)
from filerelay.store.schema import file_events, steps
from filerelay.store.schema import pipelines as pl

Item = tuple[FileEvent, Verdict, InlineClaim | None]

_ANY_KNOWN = (
    select(file_events.c.id)
    .where(
        or_(
            file_events.c.id.in_(bindparam("ids", expanding=True)),
            and_(
                file_events.c.dedup_key.in_(bindparam("dks", expanding=True)),
                file_events.c.state != EventState.DUPLICATE.value,
            ),
        )
    )
    .limit(1)
)
_NEW_PIPELINES = insert(pl).returning(pl.c.id, sort_by_parameter_order=True)
_NEW_STEPS = insert(steps).returning(steps.c.id, sort_by_parameter_order=True)


def admit(conn: Connection, items: Sequence[Item], now: datetime) -> list[Admission]:
    """:func:`admission.admit` for each item, in order; set-wise when every event is new."""
    if not items:
        return []
    for event, _, _ in items:
        admission.check_dedup_key(event)
    if not _all_new(conn, items):
        return [
            admission.admit(conn, event, verdict, now, inline) for event, verdict, inline in items
        ]
    conn.execute(
        insert(file_events), [_event_row(event, verdict, now) for event, verdict, _ in items]
    )
    for event, verdict, _ in items:
        if not verdict.plans and verdict.state in rollups.FINAL_STATES:
            rollups.record_finish(conn, event.event_id, verdict.state, now)
    runs = [(i, plan) for i, (_, verdict, _) in enumerate(items) for plan in verdict.plans]
    pipeline_ids = _insert_pipelines(conn, items, runs, now)
    firsts, claimed = _insert_steps(conn, items, runs, pipeline_ids, now)
    out = []
    for i, (event, verdict, _) in enumerate(items):
        if not verdict.plans:
            out.append(Admission(RecordedEvent(event.event_id, verdict.state, True)))
            continue
        recorded = RecordedEvent(event.event_id, EventState.PROCESSING.value, True)
        out.append(Admission(recorded, firsts.get(i, []), claimed.get(i), created=True))
    return out


def _all_new(conn: Connection, items: Sequence[Item]) -> bool:
    ids = [event.event_id for event, _, _ in items]
    keys = [event.dedup_key for event, _, _ in items]
    if len(set(ids)) < len(ids) or len(set(keys)) < len(keys):
        return False
    return conn.execute(_ANY_KNOWN, {"ids": ids, "dks": keys}).first() is None


def _event_row(event: FileEvent, verdict: Verdict, now: datetime) -> dict[str, Any]:
    state, reason = (
        (EventState.PROCESSING.value, None) if verdict.plans else (verdict.state, verdict.reason)
    )
    return event_values(event) | {
        "state": state, "reason": reason, "duplicate_of": None, "created_at": now,
        "updated_at": now,
    }  # fmt: skip


def _insert_pipelines(
    conn: Connection, items: Sequence[Item], runs: list[tuple[int, RoutePlan]], now: datetime
) -> list[int]:
    if not runs:
        return []
    rows = [
        {
            "event_id": items[i][0].event_id, "route": plan.route, "run": 1,
            "config_hash": items[i][1].config_hash, "status": PipelineStatus.RUNNING.value,
            "current_position": min(s.position for s in plan.steps), "created_at": now,
        }
        for i, plan in runs
    ]  # fmt: skip
    return [int(pid) for pid in conn.execute(_NEW_PIPELINES, rows).scalars()]


def _insert_steps(
    conn: Connection,
    items: Sequence[Item],
    runs: list[tuple[int, RoutePlan]],
    pipeline_ids: list[int],
    now: datetime,
) -> tuple[dict[int, list[StepRef]], dict[int, ClaimedStep]]:
    """Insert every pipeline's steps (the inline claim's one running); per item, its first
    steps not claimed, in (pipeline, position, branch) order, and the step it claimed."""
    rows: list[dict[str, Any]] = []
    placed: list[tuple[int, int, RoutePlan, StepPlan]] = []  # (item, pipeline id, plan, step)
    claims: dict[int, int] = {}  # item -> index in rows of its claimed step
    for (i, plan), pid in zip(runs, pipeline_ids, strict=True):
        event, _, inline = items[i]
        prefix = f"{event.dedup_key}:{plan.route}"
        start = min(s.position for s in plan.steps)
        for s in plan.steps:
            row = pipelines.step_values(pid, prefix, s, s.position, s.branch) | _UNCLAIMED
            if _claims(inline, plan, s, start) and i not in claims:
                claims[i] = len(rows)
                row |= _claimed_values(inline, now)  # type: ignore[arg-type]
            rows.append(row)  # every row the same columns: one executemany
            placed.append((i, pid, plan, s))
    if not rows:  # no event of the batch is routed (an empty executemany inserts one row)
        return {}, {}
    ids = [int(sid) for sid in conn.execute(_NEW_STEPS, rows).scalars()]
    firsts: dict[int, list[StepRef]] = {}
    claimed: dict[int, ClaimedStep] = {}
    order = sorted(
        range(len(rows)), key=lambda k: (placed[k][1], placed[k][3].position, placed[k][3].branch)
    )
    for k in order:
        i, pid, plan, s = placed[k]
        if s.position != min(p.position for p in plan.steps):
            continue
        if claims.get(i) == k:
            event, verdict, _ = items[i]
            claimed[i] = admission.claimed_step(
                event, plan, s, ids[k], pid, now, verdict.config_hash
            )
            continue
        firsts.setdefault(i, []).append(
            StepRef(
                step_id=ids[k], pipeline_id=pid, route=plan.route, position=s.position,
                branch=s.branch, phase=s.phase, next_attempt_at=s.not_before,
            )
        )  # fmt: skip
    return firsts, claimed


def _at(s: StepPlan) -> tuple[int, int]:
    return s.position, s.branch


def _claims(inline: InlineClaim | None, plan: RoutePlan, s: StepPlan, start: int) -> bool:
    """Whether ``inline`` claims this step: a first step of its route, position and branch,
    not waiting for a time window (one that waits is sent with its delay instead)."""
    return (
        inline is not None
        and s.position == start
        and (plan.route, s.position, s.branch) == (inline.route, inline.position, inline.branch)
        and s.not_before is None
    )


_UNCLAIMED = {"lease_owner": None, "lease_expires_at": None, "started_at": None, "agent": None}


def _claimed_values(inline: InlineClaim, now: datetime) -> dict[str, Any]:
    return {
        "status": StepStatus.RUNNING.value, "attempts": 1, "lease_owner": inline.owner,
        "lease_expires_at": now + timedelta(seconds=inline.lease_s), "started_at": now,
        "agent": inline.agent,
    }  # fmt: skip
