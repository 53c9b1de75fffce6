"""Hooks of the pipeline runner: cross-cutting observers (metrics) of step and event outcomes,
and of the destination limits (tokens waited for, steps deferred, breakers opening).

The runner calls a :class:`StepHookList` where an outcome is decided; each hook's methods are
no-ops by default. A hook that raises is logged loudly and skipped: it never breaks a step.
Imports no Celery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filerelay.hooklist import call_each
from filerelay.model import FileEvent, JSONDict
from filerelay.store import ClaimedStep

SUCCEEDED = "succeeded"
RETRY = "retry"
FAILED = "failed"
LEASE_LOST = "lease_lost"
"""The ``outcome`` of :meth:`StepHooks.step_finished`."""


class StepHooks:
    """One observer of the runner; override what you need."""

    def step_started(self, claim: ClaimedStep) -> None:
        """The claimed step's action is about to run (or, for an undo step, compensate)."""

    def step_finished(self, claim: ClaimedStep, outcome: str, result: JSONDict | None) -> None:
        """The step's attempt ended: ``outcome`` is one of succeeded, retry, failed,
        lease_lost; ``result`` is the action's result when it succeeded."""

    def event_finished(self, event: FileEvent, state: str) -> None:
        """Every pipeline of the event ended; ``state`` is the event's final state."""

    def rate_waited(self, destination: str, seconds: float) -> None:
        """A step slept ``seconds`` for a token of ``destination``'s rate limit."""

    def step_deferred(self, claim: ClaimedStep, destination: str, reason: str) -> None:
        """A claimed step was put back without using an attempt (``reason``: rate_limit or
        breaker)."""

    def breaker_changed(self, destination: str, state: str) -> None:
        """``destination``'s breaker moved to ``state`` (open, or closed after being open)."""


class StepHookList(StepHooks):
    """The ordered hooks of a runtime; each call reaches every hook, failures are logged."""

    def __init__(self, hooks: Sequence[StepHooks] = ()) -> None:
        self.hooks = list(hooks)

    def step_started(self, claim: ClaimedStep) -> None:
        self._each("step_started", claim)

    def step_finished(
        self, claim: ClaimedStep, outcome: str, result: JSONDict | None = None
    ) -> None:
        self._each("step_finished", claim, outcome, result)

    def event_finished(self, event: FileEvent, state: str) -> None:
        self._each("event_finished", event, state)

    def rate_waited(self, destination: str, seconds: float) -> None:
        self._each("rate_waited", destination, seconds)

    def step_deferred(self, claim: ClaimedStep, destination: str, reason: str) -> None:
        self._each("step_deferred", claim, destination, reason)

    def breaker_changed(self, destination: str, state: str) -> None:
        self._each("breaker_changed", destination, state)

    def _each(self, name: str, *args: Any) -> None:
        call_each(self.hooks, name, *args)
