"""Response models of the API: field names are the contract with the console and scripts
(stable once published), and make the OpenAPI document exact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    """Liveness: the process answers."""

    status: str = Field(description="Always 'ok'.")


class Check(BaseModel):
    """One readiness check."""

    name: str
    ok: bool
    detail: str = ""


class Ready(BaseModel):
    """Readiness: the store and the broker answer."""

    ready: bool
    checks: list[Check]


class Me(BaseModel):
    """The caller: token name, role and the actions it may perform."""

    name: str
    role: str
    actions: list[str]


class Session(Me):
    """A new browser session; send ``csrf_token`` as ``X-CSRF-Token`` on mutations."""

    csrf_token: str


class SessionIn(BaseModel):
    """A token to open a browser session with."""

    token: str = Field(min_length=1, max_length=200)


class EventItem(BaseModel):
    """An event as lists show it."""

    id: str
    created_at: datetime
    state: str
    source: str
    relpath: str
    path: str
    size: int
    reason: str | None
    routes: list[str]


class EventPage(BaseModel):
    """A page of events, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[EventItem]
    next_cursor: str | None


class Step(BaseModel):
    """One step of a pipeline run: attempts, timing, result, error."""

    id: int
    position: int
    branch: int
    name: str
    action: str
    status: str
    phase: str
    attempts: int
    max_attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    result: dict[str, Any] | None
    last_error: str | None
    next_attempt_at: datetime | None
    undoes: int | None


class Pipeline(BaseModel):
    """One route's run over the event, with its steps."""

    id: int
    route: str
    run: int
    config_hash: str
    status: str
    current_position: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    steps: list[Step]


class EventDetail(BaseModel):
    """One event with the timeline of every run."""

    id: str
    source: str
    path: str
    relpath: str
    size: int
    mtime_ns: int
    dedup_key: str
    sha256: str | None
    tags: dict[str, str]
    host: str
    stable_signal: str
    detected_at: datetime
    state: str
    reason: str | None
    duplicate_of: str | None
    created_at: datetime
    updated_at: datetime
    pipelines: list[Pipeline]


class Pending(BaseModel):
    """The oldest event still queued or processing."""

    id: str
    state: str
    source: str
    relpath: str
    created_at: datetime


class Point(BaseModel):
    """One bucket of the summary series."""

    at: datetime
    succeeded: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Summary(BaseModel):
    """The dashboard's numbers over a window."""

    window: str
    since: datetime
    bucket_s: int = Field(description="Length of one series bucket in seconds.")
    counts: dict[str, int] = Field(
        description="Finishes in the window by final state (a file finished again counts "
        "again), plus the events recorded in the window not finished yet (detected, queued, "
        "processing, duplicate)."
    )
    success_rate: float | None
    failures_by_route: dict[str, int]
    failures_by_class: dict[str, int]
    stuck: int = Field(description="Events queued or processing for longer than stuck_after_s.")
    stuck_after_s: float
    oldest_pending: Pending | None
    queue_depth: int | None
    series: list[Point]


class LastFile(BaseModel):
    """A source's newest event."""

    id: str
    relpath: str
    state: str
    created_at: datetime


class Source(BaseModel):
    """A source, its auto-upload switch (and who flipped it), counts and last file."""

    name: str
    root: str | None
    paused: bool
    paused_at: datetime | None
    paused_by: str | None
    counts_24h: dict[str, int]
    last_file: LastFile | None


class TreeEntry(BaseModel):
    """A folder or file in a source folder; a file with its last event's state."""

    name: str
    kind: str
    size: int | None
    state: str | None
    event_id: str | None


class Tree(BaseModel):
    """The entries directly under ``path`` of a source."""

    source: str
    path: str
    entries: list[TreeEntry]


class Token(BaseModel):
    """An API token (never its secret)."""

    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewToken(Token):
    """A token just created: ``token`` is shown this once."""

    token: str


class TokenIn(BaseModel):
    """A token to create."""

    name: str = Field(min_length=1, max_length=64)
    role: str = Field(pattern="^(viewer|operator|admin)$")
    expires: str | None = Field(default=None, description="e.g. 90d; none: never.", max_length=32)


class AuditRow(BaseModel):
    """One audit row."""

    id: int
    at: datetime
    actor: str
    role: str | None
    address: str | None
    action: str
    target: str | None
    params: dict[str, Any] | None
    outcome: str


class AuditPage(BaseModel):
    """Audit rows newest first."""

    items: list[AuditRow]
    next_cursor: str | None


class Renewed(BaseModel):
    """A finished event run again as a new event."""

    from_id: str = Field(alias="from")
    to_id: str = Field(alias="to")

    model_config = {"populate_by_name": True}


class Left(BaseModel):
    """An event left alone, and why."""

    id: str
    why: str


class Requeued(BaseModel):
    """What a retry or reprocess queued (or, dry, would queue)."""

    dry_run: bool
    queued: int
    requeued: list[str]
    renewed: list[Renewed]
    left: list[Left]


class ReprocessIn(BaseModel):
    """Which events to reprocess: the filters of the events list."""

    state: str = "failed"
    source: str | None = Field(default=None, max_length=255)
    route: str | None = Field(default=None, max_length=255)
    path: str | None = Field(default=None, max_length=4096, description="Path glob.")
    q: str | None = Field(default=None, max_length=200, description="Keyword.")
    since: str | None = Field(default=None, max_length=64)
    until: str | None = Field(default=None, max_length=64)
    force: bool = False
    same_rules: bool = False
    dry_run: bool = False


class RetryIn(BaseModel):
    """Options of a retry."""

    force: bool = False
    same_rules: bool = False


class SubmitIn(BaseModel):
    """A file on disk to run through the routes."""

    path: str = Field(min_length=1, max_length=4096)


class Submitted(BaseModel):
    """The event created for a submitted or uploaded file."""

    event_id: str
    source: str
    relpath: str
    size: int


class Uploaded(BaseModel):
    """A file written into a source; the watcher takes it from there."""

    source: str
    relpath: str
    size: int


class CancelIn(BaseModel):
    """How to cancel: ``compensate`` also undoes the steps that completed."""

    model_config = {"extra": "forbid"}

    compensate: bool = Field(
        default=False,
        description="Undo the completed steps (each action's compensation), as after a "
        "failure, once the running step stopped.",
    )


class Cancelled(BaseModel):
    """A cancelled pipeline; ``running_steps`` were told to stop at their next checkpoint;
    with ``compensate`` its completed steps are being undone (the pipeline is
    ``compensating`` until then)."""

    pipeline_id: int
    event_id: str
    running_steps: int
    compensate: bool = False


class Agent(BaseModel):
    """A watcher or worker process: heartbeat, version, state, and the figures of its last
    heartbeat in ``details`` (cpu_percent, rss_bytes, open_files, host_memory_percent,
    disk_free_bytes per source, inotify_watches of inotify_limit, config_sha256)."""

    id: str
    role: str
    host: str
    pid: int
    version: str
    sources: list[str]
    queues: list[str]
    heartbeat_s: float
    details: dict[str, Any] | None
    started_at: datetime
    last_heartbeat_at: datetime
    stopped_at: datetime | None
    state: str
    labels: dict[str, str] | None = None


class LogRecord(BaseModel):
    """One kept log record of an agent."""

    id: int
    at: datetime
    agent: str
    level: str
    event: str
    fields: dict[str, Any]


class AgentDetail(Agent):
    """An agent with its recent warnings and errors."""

    recent_errors: list[LogRecord]


class LogPage(BaseModel):
    """Log records newest first."""

    items: list[LogRecord]
    next_cursor: str | None


class AlertInstance(BaseModel):
    """One instance of a rule, with who acknowledged or silenced it."""

    instance: str
    status: str
    summary: str | None
    acked_by: str | None = None
    acked_at: datetime | None = None
    silenced_until: datetime | None = None


class AlertMeasure(BaseModel):
    """What the alert evaluator last measured for a rule, holding or not: the worst value over
    what the rule watches (``subject`` names it) against the rule's threshold, in ``unit``
    (``ratio``, ``s``, ``messages``, ``count``, ``score``, ``x``); ``value`` null when there
    was nothing to measure (too few files); ``error`` when the measure failed."""

    value: float | None
    threshold: float | None
    unit: str
    subject: str | None
    holding: int = Field(description="Instances whose condition held at that evaluation.")
    error: str | None
    measured_at: datetime


class AlertRule(BaseModel):
    """A rule's state now, and its last measure (null before the evaluator measured it)."""

    rule: str
    kind: str
    state: str
    firing_since: datetime | None
    last_sent: datetime | None
    escalated: bool
    instances: list[AlertInstance]
    measure: AlertMeasure | None = None


class Notification(BaseModel):
    """One send of an alert (or notify step)."""

    id: int
    created_at: datetime
    kind: str
    channel: str
    target: str
    subject: str | None
    body_excerpt: str | None
    status: str
    error: str | None


class Alerts(BaseModel):
    """Rule states and the sends of the last 7 days, newest first."""

    rules: list[AlertRule]
    history: list[Notification]


class AckIn(BaseModel):
    """Which instance to acknowledge (all of the rule's when none)."""

    instance: str | None = Field(default=None, max_length=512)


class SilenceIn(AckIn):
    """Which instance to silence, for how long."""

    duration: str = Field(default="1h", max_length=32, description="e.g. 30m, 4h, 1d.")


class Acked(BaseModel):
    """The instances acknowledged or silenced."""

    rule: str
    instances: list[str]


class ConfigText(BaseModel):
    """A config (or alerts section) as YAML text."""

    text: str = Field(max_length=4 * 1024 * 1024)
    comment: str | None = Field(default=None, max_length=1024)


class ConfigCurrent(BaseModel):
    """The config this deployment runs: version (None: never pushed), SHA-256, masked YAML."""

    version: int | None
    sha256: str
    path: str
    text: str


class ConfigVersion(BaseModel):
    """A pushed config version."""

    version: int
    sha256: str
    path: str | None
    created_at: datetime
    created_by: str
    comment: str | None


class ConfigProblemOut(BaseModel):
    """One located problem of a config."""

    file: str
    line: int | None
    field: str
    message: str


class Validation(BaseModel):
    """Whether a config text is valid, and every problem with its place."""

    valid: bool
    problems: list[ConfigProblemOut]


class Applied(BaseModel):
    """The version a push or rollback created."""

    version: int


class AlertsText(BaseModel):
    """The ``alerts:`` section of the config file, secrets masked."""

    text: str
