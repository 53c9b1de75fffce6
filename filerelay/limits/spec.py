"""Which limits hold for a step, and under which destination key.

The key names what is protected, shared by every step that reaches it: the step's named
connection (``connection:s3-main``), else the host of its URL (``host:hooks.example``; a URL
whose host is a template counts per step: ``step:<route>/<step>``), else the step itself.
A step's own ``rate_limit`` / ``breaker`` win over its connection's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from filerelay.config.limits import BreakerConfig, parse_rate
from filerelay.config.models import StepBase

#: A bucket holds at most this many seconds' worth of tokens (at least one token): a short
#: burst after a pause, not a second's worth at once.
BURST_S = 0.1


@dataclass(frozen=True)
class DestinationLimits:
    """The limits of one step's destination."""

    key: str
    rate_per_s: float | None = None
    breaker: BreakerConfig | None = None

    @property
    def capacity(self) -> float:
        """Tokens a bucket holds at most."""
        return max(1.0, (self.rate_per_s or 0.0) * BURST_S)


def destination_key(route: str, step_name: str, config: BaseModel) -> str:
    """The destination a step reaches (see the module docstring)."""
    config = getattr(config, "root", config)  # a union config (notify's channels)
    connection = getattr(config, "connection", None)
    if isinstance(connection, str) and connection:
        return f"connection:{connection}"
    url = getattr(config, "url", None)
    if isinstance(url, str):
        host = urlsplit(url).netloc.rpartition("@")[2]
        if host and "{" not in host:
            return f"host:{host.lower()}"
    return f"step:{route}/{step_name}"


def limits_of(
    step: StepBase, route: str, step_name: str, connections: Mapping[str, Any]
) -> DestinationLimits | None:
    """The limits of ``step`` (None: none configured)."""
    config = getattr(step.action_config, "root", step.action_config)
    connection = connections.get(str(getattr(config, "connection", "") or ""))
    rate = step.rate_limit or getattr(connection, "rate_limit", None)
    breaker = step.breaker or getattr(connection, "breaker", None)
    if rate is None and breaker is None:
        return None
    key = destination_key(route, step_name, step.action_config)
    return DestinationLimits(key, parse_rate(rate) if rate else None, breaker)
