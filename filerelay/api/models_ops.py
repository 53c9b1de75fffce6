"""Response and request models of the operations routes: circuit breakers, reports and
SLOs, and the config center's fleet (versions, rollouts, agents)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator


class Breaker(BaseModel):
    """A destination's circuit breaker: state, consecutive failures, opens, and until when
    it stays open (``open_for_s``: seconds left)."""

    destination: str
    state: str
    failures: int
    opens: int
    opened_at: datetime | None
    open_until: datetime | None
    open_for_s: float | None
    last_error: str | None
    updated_at: datetime | None


class BreakerClosed(BaseModel):
    """A breaker closed by hand, and the state it left."""

    destination: str
    was: str


class Span(BaseModel):
    """A report's time span (ISO 8601)."""

    since: str
    until: str


class ReportFilters(BaseModel):
    """The filters a report was built with."""

    sources: list[str]
    routes: list[str]
    hosts: list[str]


class Day(BaseModel):
    """One day of a report's series."""

    day: str
    files: int
    bytes: int
    failed: int


class SizeBucket(BaseModel):
    """Files below a size bound."""

    below_bytes: int
    label: str
    files: int
    bytes: int


class ErrorCount(BaseModel):
    """An error and how often it happened (now and in the previous period)."""

    error: str
    count: int
    previous: int


class Slo(BaseModel):
    """An SLO's attainment over its window, error budget left and 1-hour burn rate."""

    name: str
    route: str | None
    source: str | None
    objective: float
    latency_s: float | None
    window_s: float
    good: int
    total: int
    attainment: float | None
    met: bool
    error_budget_remaining: float
    burn_rate_1h: float


class Report(BaseModel):
    """A period's report beside the previous period of the same length: ``summary`` maps
    each figure to ``{current, previous, change}``; ``latency`` holds percentiles (``p50``,
    ``p95``, ``p99`` seconds) end to end and per action; ``by_source``/``by_route`` one row
    per group; ``capacity`` the growth, cost and tiering estimates."""

    generated_at: str
    period: Span
    previous_period: Span
    filters: ReportFilters
    summary: dict[str, dict[str, Any]]
    latency: dict[str, Any]
    by_source: list[dict[str, Any]]
    by_route: list[dict[str, Any]]
    by_day: list[Day]
    sizes: list[SizeBucket]
    errors: list[ErrorCount]
    stuck: list[dict[str, Any]]
    capacity: dict[str, Any]
    slos: list[Slo]


class FleetVersion(BaseModel):
    """A config version kept by the config center."""

    version: int
    sha256: str
    note: str | None
    created_at: datetime


class Rollout(BaseModel):
    """A rollout of a version: to every agent (``selector`` None) or a canary's agents."""

    id: int
    version: int
    selector: dict[str, Any] | None
    state: str
    reason: str | None
    created_at: datetime
    updated_at: datetime


class FleetAgent(BaseModel):
    """A host of the fleet: its processes' roles, labels, the version it must run and the
    one it reports running (or refused)."""

    agent: str
    labels: dict[str, str]
    roles: list[str]
    state: str
    assigned: int | None
    running: int | None
    refused: dict[str, Any] | None


class Fleet(BaseModel):
    """Versions, the baseline rollout, the rollout under way and each agent."""

    versions: list[FleetVersion]
    baseline: Rollout | None
    active: Rollout | None
    agents: list[FleetAgent]


class FleetPushIn(BaseModel):
    """A version to roll out: a config ``text`` or a kept ``version``, to every agent or to
    one target: ``agents`` (comma-separated ids), ``label`` (``k=v``) or ``canary``
    (``10%`` of the online agents)."""

    text: str | None = Field(default=None, max_length=4 * 1024 * 1024)
    version: int | None = Field(default=None, ge=1, le=2**31)
    name: str = Field(default="api.yaml", min_length=1, max_length=255)
    note: str | None = Field(default=None, max_length=1024)
    agents: str | None = Field(default=None, max_length=4096)
    label: str | None = Field(default=None, max_length=1024)
    canary: str | None = Field(default=None, max_length=16)

    @model_validator(mode="after")
    def _one_source(self) -> FleetPushIn:
        if (self.text is None) == (self.version is None):
            raise ValueError("give either text or version")
        return self


class FleetPushed(BaseModel):
    """A push's answer: the version, whether it is new, and its rollout."""

    version: int
    created: bool
    rollout: Rollout


class FleetRollbackIn(BaseModel):
    """A rollback: to ``version`` for every agent, or (none) undo the last step."""

    version: int | None = Field(default=None, ge=1, le=2**31)


class QueueDepthPoint(BaseModel):
    """One bucket of the queue-depth history: its start, the deepest total over every queue
    in one minute of it, and each queue's deepest."""

    t: datetime
    total: int
    by_queue: dict[str, int]


class QueueDepthHistory(BaseModel):
    """The messages waiting in the broker's queues over a window (sampled once a minute by
    the reconciler), in buckets of ``bucket_s``; buckets without a sample are left out."""

    window: str
    bucket_s: int
    queues: list[str]
    points: list[QueueDepthPoint]
