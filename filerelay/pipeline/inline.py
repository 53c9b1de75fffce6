"""The inline first step: how long an ingest may spend running a route's first step itself.

The watcher sends each ingest with this as its soft time limit; the runner then runs, inside
the ingest, a first step whose timeout is that limit (see ``INLINE_LIMIT_SLACK_S`` in
:mod:`filerelay.pipeline.runner`), saving the broker round trip of its step message.
"""

from __future__ import annotations

from typing import Any

from filerelay.config.models import PipelineConfigBase, step_slots


def inline_step_s(model: PipelineConfigBase) -> float | None:
    """The longest timeout of a route's first steps: the ingest task's soft time limit, so
    that the worker can run any route's first step inside the ingest."""
    longest = None
    default = model.defaults.timeout
    routes: list[Any] = model.routes  # type: ignore[attr-defined]  # a field of the built model
    for route in routes:
        slots = list(step_slots(route.steps))
        first = min((position for position, *_ in slots), default=None)
        for position, _branch, step, _path in slots:
            if position == first:
                timeout_s = step.timeout if step.timeout is not None else default
                longest = max(longest or 0.0, float(timeout_s))
    return longest
