"""Retry classification and backoff, in one place."""

from __future__ import annotations

import random

from filerelay.config.models import RetryPolicy
from filerelay.errors import ActionError, RetryableError


def is_retryable(exc: BaseException) -> bool:
    """Retryable: our RetryableError, and unexpected non-filerelay exceptions (bugs or SDK
    errors an action failed to translate) so a transient surprise does not fail a file for
    good; permanent: PermanentError and its subclasses."""
    if isinstance(exc, ActionError):
        return isinstance(exc, RetryableError)
    return True


def backoff_s(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter before attempt ``attempt + 1``."""
    cap = min(policy.max_backoff, policy.backoff * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(0.0, cap) if cap > 0 else 0.0


def check_delivery_limits(
    step_timeouts_s: list[float], max_backoffs_s: list[float], visibility_timeout_s: float
) -> list[str]:
    """Problems where a countdown or a time limit could outlast the visibility timeout.

    On Redis a reserved message comes back after the visibility timeout; a step running longer,
    or a retry countdown longer, would run twice.
    """
    problems = []
    longest_step = max(step_timeouts_s, default=0.0)
    longest_backoff = max(max_backoffs_s, default=0.0)
    if longest_step + longest_backoff >= visibility_timeout_s:
        problems.append(
            f"the longest step timeout ({longest_step:g}s) plus the longest retry backoff "
            f"({longest_backoff:g}s) reaches the broker visibility timeout "
            f"({visibility_timeout_s:g}s): a message could run twice; raise "
            "FILERELAY_VISIBILITY_TIMEOUT_S or lower the timeouts"
        )
    return problems
