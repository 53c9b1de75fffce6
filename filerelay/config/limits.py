"""Fleet-wide limits of a destination: ``rate_limit`` and ``breaker`` (on a named connection
or on a step).

::

    connections:
      s3-main: {type: s3, endpoint_url: "...", rate_limit: 50/s,
                breaker: {failures: 5, cool_down: 30s}}
    routes:
      - name: video
        steps:
          - webhook: {url: "https://hooks.example/ingest"}
            rate_limit: 20/s
            breaker: {failures: 3, cool_down: 1m}

A rate is ``<count>/<unit>`` with unit ``s``, ``min`` or ``h`` (``50/s``, ``600/min``); it is
validated when the config loads and turned into tokens per second by :func:`parse_rate`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from filerelay.config.types import DurationS

RATE_UNITS_S = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*")


def parse_rate(value: str) -> float:
    """``"50/s"`` → 50.0 tokens per second; ``"600/min"`` → 10.0. Raises ValueError naming
    the value."""
    match = _RATE.fullmatch(value.lower()) if isinstance(value, str) else None
    if match is None or match.group(2) not in RATE_UNITS_S:
        raise ValueError(f"bad rate {value!r} (use '<count>/s', '<count>/min' or '<count>/h')")
    per_s = float(match.group(1)) / RATE_UNITS_S[match.group(2)]
    if per_s <= 0:
        raise ValueError(f"bad rate {value!r}: the count must be above 0")
    return per_s


def _rate(value: Any) -> str:
    parse_rate(value)
    return str(value)


RateLimit = Annotated[
    str,
    AfterValidator(_rate),
    WithJsonSchema({"type": "string", "examples": ["50/s", "600/min", "1000/h"]}),
]


class BreakerConfig(BaseModel):
    """A circuit breaker: open after ``failures`` consecutive retryable failures; after
    ``cool_down`` one probe goes through; its success closes the breaker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failures: int = Field(5, ge=1, le=10_000, description="Consecutive retryable failures.")
    cool_down: DurationS = Field(30.0, gt=0, description="Time open before one probe.")


def rate_limit_field() -> Any:
    """The ``rate_limit`` field of a connection or a step."""
    return Field(
        None,
        description="Fleet-wide rate of this destination, e.g. '50/s' or '600/min', held by "
        "all workers together; a step waits for its turn (no attempt is used).",
    )


def breaker_field() -> Any:
    """The ``breaker`` field of a connection or a step."""
    return Field(
        None,
        description="Circuit breaker of this destination, shared by all workers: while open, "
        "steps wait instead of using attempts.",
    )
