"""The runner's gate to a step's destination: its breaker and its rate limit. No Celery.

:func:`admit` runs after the claim and before the action. A breaker that is open (or whose
half-open probe is running elsewhere) defers the step to the time it may be tried again; a
rate limit with no token sleeps for one (briefly, within the lease) or defers the step. A
deferral gives the claim's attempt back, records why in the step's ``last_error`` ("waiting:
…"), and sends the step again with a countdown — the runner's usual enqueue path. The
:class:`Gate` then watches the action (``with keeper, gate:``): a success closes the breaker,
a retryable failure counts toward opening it. A failure of the limits themselves (the store
or Redis down) is logged and never fails the step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import structlog

from filerelay.config.models import StepBase
from filerelay.limits.spec import DestinationLimits, limits_of
from filerelay.pipeline.messages import StepMessage, delay_s, step_message
from filerelay.pipeline.retry import is_retryable
from filerelay.pipeline.runtime import Rules, Runtime
from filerelay.store import ClaimedStep
from filerelay.store.limits import CLOSED, OPEN, Permit

log = structlog.get_logger("filerelay.limits")

#: A step waiting for a half-open probe elsewhere comes back after a jittered wait in this
#: range (so the waiters do not all return at once), sooner if the probe's hold ends first.
PROBE_WAIT_S = (0.5, 2.0)
RATE_LIMIT = "rate_limit"
BREAKER = "breaker"


@dataclass
class Gate:
    """The outcome of :func:`admit`: ``deferred`` (the step was put back: send these
    messages, run nothing), or a context manager around the action that reports its outcome
    to the breaker."""

    runtime: Runtime | None = None
    limits: DestinationLimits | None = None
    owner: str = ""
    permit: Permit | None = None
    deferred: list[StepMessage] | None = None

    def __enter__(self) -> Gate:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.runtime is None or self.limits is None or self.limits.breaker is None:
            return
        try:
            self._record(self.runtime, self.limits, exc)
        except Exception as error:  # the step's own outcome matters more
            log.error("breaker_record_failed", destination=self.limits.key, error=str(error))

    def _record(
        self, runtime: Runtime, limits: DestinationLimits, exc: BaseException | None
    ) -> None:
        limiter, breaker = runtime.limits, limits.breaker
        assert limiter is not None and breaker is not None and self.permit is not None
        now = limiter.clock()
        if exc is None:
            if self.permit.state == CLOSED and self.permit.failures == 0:
                return  # nothing to reset: no write on the hot path
            left = limiter.store.breaker_success(limits.key, now)
            if left is not None:
                log.warning("breaker_closed", destination=limits.key, was=left)
                runtime.hooks.breaker_changed(limits.key, CLOSED)
        elif is_retryable(exc) or isinstance(exc, runtime.interruptions):
            error = f"{type(exc).__name__}: {exc}"
            opened = limiter.store.breaker_failure(
                limits.key, self.owner, now, breaker.failures, breaker.cool_down, error
            )
            if opened:
                until = now + timedelta(seconds=breaker.cool_down)
                log.warning("breaker_opened", destination=limits.key, until=until.isoformat())
                runtime.hooks.breaker_changed(limits.key, OPEN)
        elif self.permit.probe:  # a permanent error of this file says nothing of the peer
            limiter.store.release_probe(limits.key, self.owner, now)


def admit(
    runtime: Runtime, rules: Rules, step: StepBase | None, claim: ClaimedStep, owner: str
) -> Gate:
    """Let the claimed step through its destination's breaker and rate limit, or defer it."""
    limiter = runtime.limits
    if step is None or limiter is None:
        return Gate()
    limits = limits_of(step, claim.route, claim.name, rules.resources.connections)
    if limits is None:
        return Gate()
    permit = None
    if limits.breaker is not None:
        now = limiter.clock()
        permit = limiter.store.breaker_permit(limits.key, owner, now, runtime.settings.lease_s)
        if not permit.allowed:
            until = _breaker_retry_at(permit, now)
            shown = (permit.until or until).isoformat()
            reason = f"waiting: breaker {permit.state} for {limits.key} until {shown}"
            return _defer(runtime, rules, step, claim, owner, limits, BREAKER, reason, until)
    if limits.rate_per_s is not None:
        took = limiter.wait_for_token(limits)
        if took.waited_s:
            runtime.hooks.rate_waited(limits.key, took.waited_s)
        if took.defer_s > 0:
            if permit is not None and permit.probe:
                limiter.store.release_probe(limits.key, owner, limiter.clock())
            until = limiter.clock() + timedelta(seconds=took.defer_s)
            reason = f"waiting: rate limit {limits.rate_per_s:g}/s of {limits.key}"
            return _defer(runtime, rules, step, claim, owner, limits, RATE_LIMIT, reason, until)
    return Gate(runtime, limits, owner, permit)


def _breaker_retry_at(permit: Permit, now: datetime) -> datetime:
    """When a step held back by the breaker comes back: just after the end of the cool-down
    (spread over half a second, so the waiting steps do not all return at once; the first
    is the probe); while a probe runs, after a short jittered wait (its outcome decides)."""
    if permit.state == OPEN and permit.until is not None:
        return permit.until + timedelta(seconds=random.uniform(0.0, PROBE_WAIT_S[0]))
    later = now + timedelta(seconds=random.uniform(*PROBE_WAIT_S))
    return min(permit.until, later) if permit.until is not None else later


def _defer(
    runtime: Runtime,
    rules: Rules,
    step: StepBase,
    claim: ClaimedStep,
    owner: str,
    limits: DestinationLimits,
    why: str,
    reason: str,
    until: datetime,
) -> Gate:
    assert runtime.limits is not None
    if not runtime.limits.store.defer_step(claim.step_id, owner, reason, until):
        log.warning("step_lease_lost", reason="lease expired before the deferral was recorded")
        return Gate(deferred=[])
    countdown = delay_s(until)  # capped: a longer wait is sent again (runner._not_due)
    log.debug("step_deferred", destination=limits.key, why=why, retry_in_s=round(countdown, 3))
    runtime.hooks.step_deferred(claim, limits.key, why)
    message = step_message(rules, claim.step_id, claim.event, step, countdown=countdown)
    return Gate(deferred=[message])
