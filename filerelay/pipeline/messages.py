"""Step messages: what the step task needs to run a step, built from the store's rows and
the rules their pipeline started with. Imports no Celery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from filerelay.config.models import StepBase
from filerelay.model import FileEvent, StepPhase
from filerelay.pipeline.compensation import recovery_step
from filerelay.pipeline.runtime import Rules, Runtime
from filerelay.store import StepRef
from filerelay.store.rows import RoutedStep

MAX_COUNTDOWN_S = 900.0  # far below any sane visibility timeout


@dataclass(frozen=True)
class StepMessage:
    """What the step task needs to run a step; ids and labels only (shown in Flower)."""

    step_id: int
    event_id: str
    source: str
    relpath: str
    timeout_s: float
    countdown_s: float = 0.0
    #: the agent id whose host queue runs it; "" for the shared queue (filerelay.fleet)
    agent: str = ""


def message_for(runtime: Runtime, step_id: int, event: FileEvent) -> StepMessage:
    """The message of a pending step, delayed until its ``next_attempt_at``."""
    row = runtime.store.step_row(step_id)
    rules, step = step_slot(runtime, row)
    delay = delay_s(row.next_attempt_at) if row else 0.0
    return step_message(rules, step_id, event, step, countdown=delay)


def ref_message(runtime: Runtime, rules: Rules, ref: StepRef, event: FileEvent) -> StepMessage:
    """The message of a step the store described (no read needed for a main step)."""
    if ref.phase != StepPhase.MAIN:
        return message_for(runtime, ref.step_id, event)
    # a main step's config comes from the rules its pipeline runs with, which are ``rules``
    step = rules.step(ref.route, ref.position, ref.branch)
    return step_message(rules, ref.step_id, event, step, countdown=delay_s(ref.next_attempt_at))


def step_slot(runtime: Runtime, row: RoutedStep | None) -> tuple[Rules, StepBase | None]:
    """The rules a step's pipeline started with, and the step's config in them."""
    rules = runtime.rules_for(row.config_hash) if row else None
    if row is None or rules is None:
        return runtime.rules, None
    if row.phase != StepPhase.MAIN:
        return rules, recovery_step(runtime, rules, row)
    return rules, rules.step(row.route, row.position, row.branch)


def delay_s(not_before: datetime | None) -> float:
    """Seconds until ``not_before``, capped so no countdown nears the visibility timeout (a
    longer wait is a chain of short countdowns: see :func:`~filerelay.pipeline.runner.run_step`)."""
    if not_before is None:
        return 0.0
    return max(0.0, min((not_before - datetime.now(UTC)).total_seconds(), MAX_COUNTDOWN_S))


def step_message(
    rules: Rules, step_id: int, event: FileEvent, step: StepBase | None, countdown: float = 0
) -> StepMessage:
    """The message of ``step`` (its timeout from ``rules``), sent ``countdown`` s from now."""
    return StepMessage(
        step_id=step_id,
        event_id=event.event_id,
        source=event.source,
        relpath=event.relpath,
        timeout_s=rules.timeout_s(step),
        countdown_s=countdown,
        agent=rules.agent_for(event, step),
    )


def redrive_message(runtime: Runtime, step_id: int) -> StepMessage | None:
    """A fresh message for a stranded step (the reconciler's), or None if it is gone."""
    row = runtime.store.step_row(step_id)
    if row is None:
        return None
    event = runtime.store.get_event(row.event_id)
    rules, step = step_slot(runtime, row)
    return StepMessage(
        step_id=step_id,
        event_id=row.event_id,
        source=event.source if event else "",
        relpath=event.relpath if event else "",
        timeout_s=rules.timeout_s(step),
        countdown_s=delay_s(row.next_attempt_at),
        # no event: the row was pruned under it; its claim will find nothing to run
        agent=rules.agent_for(event.to_event(), step) if event else "",
    )
