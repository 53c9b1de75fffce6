"""Compensation: what to run after a step failed for good, and which config each such step
runs with. Imports no Celery.

When a main step fails for good, the pipeline's completed steps are undone in reverse order
(each action's ``compensate``: delete the uploaded object, move the file back, publish a
retraction, call a compensating webhook), then the route's ``on_failure`` steps run (a
quarantine move, a notify). They are ordinary step rows — claimed, leased, retried and
re-driven by the reconciler like any other — so an interrupted compensation resumes.
"""

from __future__ import annotations

from typing import Any

from filerelay.config.models import StepBase
from filerelay.model import StepPhase, StepStatus
from filerelay.pipeline.runtime import Rules, Runtime
from filerelay.store import ClaimedStep, StepPlan
from filerelay.store.rows import RoutedStep


def recovery_plan(
    runtime: Runtime, rules: Rules, pipeline_id: int, route: str, on_failure: bool = True
) -> list[StepPlan]:
    """Undo steps for the pipeline's completed steps (newest first), then on_failure steps
    (not for a cancel: ``on_failure`` False)."""
    plans: list[StepPlan] = []
    done = [
        row
        for row in runtime.store.steps_of(pipeline_id)
        if row.phase == StepPhase.MAIN and row.status == StepStatus.SUCCEEDED
    ]
    for row in sorted(done, key=lambda r: (r.position, r.branch), reverse=True):
        step = rules.step(route, row.position, row.branch)
        if step is None:
            continue
        action = runtime.registry.get(step.action)(step.action_config, rules.resources)
        if action.can_compensate():
            plans.append(
                StepPlan(
                    position=0,
                    branch=0,
                    name=f"undo-{row.name}",
                    action=step.action,
                    max_attempts=rules.retry_policy(step).max_attempts,
                    phase=StepPhase.UNDO.value,
                    undoes=row.id,
                )
            )
    for i, step in enumerate(_on_failure(rules, route) if on_failure else []):
        plans.append(
            StepPlan(
                position=0,
                branch=0,
                name=step.name or f"on_failure.{i}-{step.action}",
                action=step.action,
                max_attempts=rules.retry_policy(step).max_attempts,
                phase=StepPhase.ON_FAILURE.value,
            )
        )
    return plans


def _on_failure(rules: Rules, route: str) -> list[StepBase]:
    try:
        return list(rules.loaded.model.route(route).on_failure)
    except KeyError:
        return []


def recovery_step(runtime: Runtime, rules: Rules, row: RoutedStep) -> StepBase | None:
    """The config an undo or on_failure step row runs with."""
    if row.phase == StepPhase.UNDO:
        original = runtime.store.step_row(row.undoes) if row.undoes is not None else None
        if original is None:
            return None
        return rules.step(row.route, original.position, original.branch)
    siblings = [
        r.id
        for r in sorted(runtime.store.steps_of(row.pipeline_id), key=lambda r: r.position)
        if r.phase == StepPhase.ON_FAILURE
    ]
    steps = _on_failure(rules, row.route)
    index = siblings.index(row.id) if row.id in siblings else -1
    return steps[index] if 0 <= index < len(steps) else None


def undone_result(runtime: Runtime, claim: ClaimedStep) -> tuple[str, dict[str, Any]]:
    """The name and recorded result of the step an undo step compensates."""
    original = runtime.store.step_row(claim.undoes) if claim.undoes is not None else None
    if original is None:
        return "", {}
    return original.name, dict(original.result or {})
