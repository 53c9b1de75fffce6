"""The store's tables (SQLAlchemy Core): file events, pipelines, steps, routing configs,
and the operator's tables: sources (the pause switch), agents (heartbeats), notifications,
alert_states (the alert evaluator's memory), rollups (hourly aggregates the reports read).

One row of ``file_events`` per detected file version; the partial unique index on
``dedup_key`` (over rows that are not ``duplicate``) is what keeps one *primary* row per file
version even when two ingests race. One ``pipelines`` row per route run over an event, one
``steps`` row per step of it; sibling steps of a ``parallel:`` block share a ``position``
and differ in ``branch``.

Free text (results, errors, reasons, notification excerpts, alert summaries) is held in the
``Sanitized*`` column types: secrets are masked on the way in, in that one place
(:mod:`filerelay.store.sanitized`).

Changing a table here needs a new migration in ``migrations/versions`` (the migration test
fails until the two agree).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from filerelay.store.db import NameString, NameText, UTCDateTime
from filerelay.store.sanitized import SanitizedJSON, SanitizedString, SanitizedText

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

EVENT_ID_LEN = 32
DEDUP_KEY_LEN = 1024

file_events = Table(
    "file_events",
    metadata,
    Column("id", String(EVENT_ID_LEN), primary_key=True),
    Column("source", String(255), nullable=False),
    Column("path", NameText, nullable=False),
    Column("relpath", NameString(4096), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("ctime_ns", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False),
    Column("device", BigInteger, nullable=False),
    Column("dedup_key", NameString(DEDUP_KEY_LEN), nullable=False),
    Column("sha256", String(64), nullable=True),
    Column("tags", JSON, nullable=False),
    Column("host", String(255), nullable=False),
    # the watcher's agent id (the fleet): steps that read the file run on that host's queue
    Column("agent", String(255), nullable=False, server_default=text("''")),
    Column("stable_signal", String(32), nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", SanitizedText, nullable=True),
    Column("duplicate_of", String(EVENT_ID_LEN), ForeignKey("file_events.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(
        "uq_file_events_dedup_key_primary",
        "dedup_key",
        unique=True,
        sqlite_where=text("state <> 'duplicate'"),
        postgresql_where=text("state <> 'duplicate'"),
    ),
    Index("ix_file_events_state_created_at", "state", "created_at"),
    Index("ix_file_events_source_created_at", "source", "created_at"),
    Index("ix_file_events_relpath", "relpath"),
    Index("ix_file_events_created_at_id", "created_at", "id"),
    # the alert rules' windows: events finished (last updated) since a time
    Index("ix_file_events_updated_at", "updated_at"),
)

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(EVENT_ID_LEN), ForeignKey("file_events.id"), nullable=False),
    Column("route", String(255), nullable=False),
    Column("run", Integer, nullable=False, server_default=text("1")),
    Column("config_hash", String(64), nullable=False),
    # 32: 'compensation_failed' (19 characters) did not fit the 16 of 0001 on PostgreSQL
    Column("status", String(32), nullable=False),
    Column("current_position", Integer, nullable=True),
    Column("error", SanitizedText, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # set by a cancel (API or CLI): pending steps are cancelled at once, a running step learns
    # it when it renews its lease and stops at its next checkpoint
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("event_id", "route", "run"),
    Index("ix_pipelines_route_event_id", "route", "event_id"),
    Index("ix_pipelines_finished_at", "finished_at"),
    # an event's timeline and a page's routes look pipelines up by event (the API's reads)
    Index("ix_pipelines_event_id", "event_id"),
)

steps = Table(
    "steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline_id", Integer, ForeignKey("pipelines.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("branch", Integer, nullable=False, server_default=text("0")),
    Column("name", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("result", SanitizedJSON, nullable=True),
    Column("last_error", SanitizedText, nullable=True),
    Column("idempotency_key", NameString(2048), nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("duration_ms", BigInteger, nullable=True),
    # 'main' steps of the route; after a step failed for good: 'undo' (compensates the step
    # row ``undoes``) and 'on_failure' steps, run in position order while the pipeline is
    # 'compensating'
    Column("phase", String(16), nullable=False, server_default=text("'main'")),
    Column("undoes", Integer, ForeignKey("steps.id"), nullable=True),
    # progress a running action saved (e.g. a multipart upload's id and parts), so the next
    # attempt resumes instead of starting over
    Column("checkpoint", JSON, nullable=True),
    # the agent id of the host whose worker claimed it last (the fleet's audit trail)
    Column("agent", String(255), nullable=True),
    UniqueConstraint("pipeline_id", "position", "branch"),
    Index("ix_steps_status_lease_expires_at", "status", "lease_expires_at"),
    # the live stream's step outcomes: steps ended, or put back to wait for a retry, lately
    Index("ix_steps_finished_at", "finished_at"),
    Index("ix_steps_status_next_attempt_at", "status", "next_attempt_at"),
)

routing_configs = Table(
    "routing_configs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("path", String(4096), nullable=True),
    Column("loaded_at", UTCDateTime, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("root", String(4096), nullable=True),
    Column("paused", Boolean, nullable=False),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("paused_by", String(255), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("target", SanitizedString(1024), nullable=False),
    Column("subject", SanitizedString(1024), nullable=True),
    Column("body_excerpt", SanitizedText, nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", SanitizedText, nullable=True),
    Index("ix_notifications_created_at", "created_at"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(64), nullable=False),
    Column("sources", JSON, nullable=False),
    Column("queues", JSON, nullable=False),
    Column("heartbeat_s", Float, nullable=False),
    Column("details", JSON, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime, nullable=True),
    # the fleet: the host's agent id (FILERELAY_AGENT_ID) and its labels
    Column("agent", String(255), nullable=True),
    Column("labels", JSON, nullable=True),
    Index("ix_agents_last_heartbeat_at", "last_heartbeat_at"),
    Index("ix_agents_role_host", "role", "host"),
)

# The config center (filerelay.ops.rollout): each pushed config version, numbered (its text
# is the routing_configs row of its SHA-256), and each rollout of a version to agents.
config_versions = Table(
    "config_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("note", SanitizedText, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# ``selector``: null = every agent; {"agents": [ids]} or {"labels": {k: v}}. ``state``:
# 'canary' (its selection runs it, the others the baseline), 'stopped' (an agent refused it:
# it widens no further), 'promoted' (the baseline: every agent not in a canary runs it),
# 'rolled_back'. The baseline is the newest promoted row.
config_rollouts = Table(
    "config_rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", Integer, ForeignKey("config_versions.version"), nullable=False),
    Column("selector", JSON, nullable=True),
    Column("state", String(16), nullable=False),
    Column("reason", SanitizedText, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_config_rollouts_state", "state"),
)

# One row per alert instance that is pending, firing, or resolved but not yet told to every
# channel that heard it fire. ``deliveries``: channel name -> ISO time of its last successful
# send for this instance (the suppression and retry state; it survives an evaluator restart).
alert_states = Table(
    "alert_states",
    metadata,
    Column("rule", String(255), primary_key=True),
    Column("instance", String(512), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("value", Float, nullable=True),
    Column("summary", SanitizedText, nullable=True),
    Column("pending_since", UTCDateTime, nullable=False),
    Column("firing_since", UTCDateTime, nullable=True),
    Column("escalated_at", UTCDateTime, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("deliveries", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Token buckets of fleet-wide rate limits when the broker is not Redis (filerelay.limits):
# ``tokens`` left at ``stamp`` (epoch seconds); ``version`` makes each take a conditional
# UPDATE, so two workers never spend the same token.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", NameString(512), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("stamp", Float, nullable=False),
    Column("version", BigInteger, nullable=False),
)

# One circuit breaker per destination (filerelay.limits): 'closed' counts consecutive
# retryable ``failures``; 'open' until ``open_until``; then 'half_open' while one probe
# (``probe_owner``, until ``probe_until``) runs. ``opens``: how often it opened.
breakers = Table(
    "breakers",
    metadata,
    Column("destination", NameString(512), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("opens", Integer, nullable=False),
    Column("opened_at", UTCDateTime, nullable=True),
    Column("open_until", UTCDateTime, nullable=True),
    Column("probe_owner", String(255), nullable=True),
    Column("probe_until", UTCDateTime, nullable=True),
    Column("last_error", SanitizedText, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Hourly aggregates of finished events, kept as each event finishes (one UPSERT in the
# transaction that ends it, :mod:`filerelay.store.rollups`) and rebuilt by ``filerelay db
# rollup --rebuild``; ``db prune`` keeps them. ``route`` is '' for event-level figures and the
# route's name for its pipelines'; ``kind``/``key`` say what ``n`` counts and ``total`` sums
# (e.g. kind 'outcome', key 'failed': n files, total bytes). See docs/reports.md.
rollups = Table(
    "rollups",
    metadata,
    Column("hour", UTCDateTime, primary_key=True),
    Column("source", String(255), primary_key=True),
    Column("route", String(255), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
    # one kind over a time range (anomaly hours, capacity, daily series) without the others
    Index("ix_rollups_kind_hour", "kind", "hour"),
)

# The dashboard's summary: finished events per minute, 10 minutes and hour (``grain`` 60, 600
# or 3600 s, ``at_s`` the bucket's start in epoch seconds), kept in the transaction that ends
# each event (:mod:`filerelay.store.summary_rollups`), pruned after 8 days. ``kind``/``key``:
# 'state'/final state, 'latency'/latency bin upper bound (s), 'route'/a failed route,
# 'error'/error class.
summary_rollups = Table(
    "summary_rollups",
    metadata,
    Column("grain", Integer, primary_key=True),
    Column("at_s", BigInteger, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
)

# --- the control plane (HTTP API, tokens, audit) ----------------------------------------------

# Bearer tokens of the API: only the SHA-256 of the token is kept; it is shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
)

# One row per mutation (API or CLI) and per refused authentication.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("role", String(16), nullable=True),
    Column("address", String(255), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", SanitizedString(1024), nullable=True),
    Column("params", SanitizedJSON, nullable=True),
    Column("outcome", SanitizedString(1024), nullable=False),
    Index("ix_audit_log_at", "at"),
)

# Server-side secrets shared by every API process of a deployment (the session signing key).
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# The history of the deployment's config file as pushed through the API (text masked): each
# push or rollback a row. The config center's numbered versions for a fleet are
# ``config_versions`` above.
config_history = Table(
    "config_history",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False),
    Column("text", SanitizedText, nullable=False),
    Column("path", String(4096), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("comment", SanitizedString(1024), nullable=True),
)

# Recent warning/error log records and pipeline outcome lines of every agent (capped).
log_records = Table(
    "log_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("agent", String(255), nullable=False),
    Column("level", String(16), nullable=False),
    Column("event", String(128), nullable=False),
    Column("fields", SanitizedJSON, nullable=False),
    Index("ix_log_records_at", "at"),
)

# Acknowledgements and silences of alert instances (who, when, until when).
alert_acks = Table(
    "alert_acks",
    metadata,
    Column("rule", String(255), primary_key=True),
    Column("instance", String(512), primary_key=True),
    Column("acked_by", String(255), nullable=True),
    Column("acked_at", UTCDateTime, nullable=True),
    Column("silenced_by", String(255), nullable=True),
    Column("silenced_until", UTCDateTime, nullable=True),
)

# --- history the dashboards read ------------------------------------------------------------

# Messages waiting per broker queue, one row per (queue, minute since the epoch), written by
# the reconciler's sampler (:mod:`filerelay.ops.queue_depth`); a second sampler of the same
# minute overwrites the first. Pruned after ``FILERELAY_QUEUE_DEPTH_RETENTION_DAYS``.
queue_depths = Table(
    "queue_depths",
    metadata,
    Column("queue", String(255), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("depth", BigInteger, nullable=False),
    Index("ix_queue_depths_minute", "minute"),
)

# What the alert evaluator last measured for each rule, whether or not it holds: the worst
# value over the rule's groups (``subject`` names it), the rule's threshold and unit, how
# many instances hold, and when; ``error`` when the measure itself failed.
alert_measures = Table(
    "alert_measures",
    metadata,
    Column("rule", String(255), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("unit", String(16), nullable=False),
    Column("subject", SanitizedString(512), nullable=True),
    Column("holding", Integer, nullable=False),
    Column("error", SanitizedText, nullable=True),
    Column("measured_at", UTCDateTime, nullable=False),
)
