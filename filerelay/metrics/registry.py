"""Every filerelay metric: names, labels, help and buckets, built by factories.

Names follow the Prometheus conventions: the ``filerelay_`` prefix, base units (seconds,
bytes), counters ending in ``_total``. The factories take the registry to register into:
``None`` in multiprocess mode, where the metrics' values live in files that a
``MultiProcessCollector`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
STEP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5, 7, 10, 15, 20)

# Gauges read at scrape time by custom collectors (filerelay.metrics.watcher / .collectors)
QUEUE_DEPTH = "filerelay_queue_depth"
BROKER_UP = "filerelay_broker_up"
PENDING_FILES = "filerelay_watcher_pending_files"
OUTBOX_DEPTH = "filerelay_watcher_outbox_depth"
BREAKER_STATE = "filerelay_breaker_state"
COLLECTED_GAUGES = (QUEUE_DEPTH, BROKER_UP, PENDING_FILES, OUTBOX_DEPTH, BREAKER_STATE)


@dataclass(frozen=True)
class WatcherMetrics:
    """The watcher's counters and histograms (its gauges are collected at scrape time)."""

    detected: Counter
    emitted: Counter
    spooled: Counter
    rescans: Counter
    errors: Counter
    write_to_emit: Histogram


def watcher_metrics(registry: CollectorRegistry | None) -> WatcherMetrics:
    """The watcher's metrics, registered into ``registry``."""
    return WatcherMetrics(
        detected=Counter(
            "filerelay_watcher_files_detected",
            "Files the stability detector declared completely written.",
            ["source"],
            registry=registry,
        ),
        emitted=Counter(
            "filerelay_watcher_events_emitted",
            "Events written to the outbox (once per file version).",
            ["source"],
            registry=registry,
        ),
        spooled=Counter(
            "filerelay_watcher_events_spooled",
            "Events kept in the outbox because a publish failed (broker down) or was held "
            "back (max_backlog); counted once per event.",
            ["source"],
            registry=registry,
        ),
        rescans=Counter(
            "filerelay_watcher_rescans",
            "Full walks of a source (reason: startup, periodic, requested after a queue "
            "overflow or a switch to polling).",
            ["source", "reason"],
            registry=registry,
        ),
        errors=Counter(
            "filerelay_watcher_errors",
            "Watching problems (kind: queue_overflow, watch_limit, dir_unreadable, "
            "outbox_write_failed).",
            ["source", "kind"],
            registry=registry,
        ),
        write_to_emit=Histogram(
            "filerelay_watcher_write_to_emit_seconds",
            "From a file's last write (its mtime) to its event being emitted.",
            ["source"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        ),
    )


@dataclass(frozen=True)
class WorkerMetrics:
    """The worker's metrics (the queue depth is collected at scrape time)."""

    step_runs: Counter
    step_duration: Histogram
    step_attempts: Histogram
    uploaded_bytes: Counter
    end_to_end: Histogram
    compensations: Counter
    tasks_running: Gauge
    rate_wait: Counter
    deferred: Counter
    breaker_opens: Counter


def worker_metrics(registry: CollectorRegistry | None) -> WorkerMetrics:
    """The worker's metrics, registered into ``registry``."""
    return WorkerMetrics(
        step_runs=Counter(
            "filerelay_step_runs",
            "Step attempts by how they ended (outcome: succeeded, retry, failed, lease_lost; "
            "phase: main, undo, on_failure).",
            ["action", "route", "phase", "outcome"],
            registry=registry,
        ),
        step_duration=Histogram(
            "filerelay_step_duration_seconds",
            "Time an action ran in one attempt of a step.",
            ["action"],
            buckets=STEP_BUCKETS_S,
            registry=registry,
        ),
        step_attempts=Histogram(
            "filerelay_step_attempts",
            "The attempt number at which a step ended (succeeded or failed for good).",
            ["action"],
            buckets=ATTEMPT_BUCKETS,
            registry=registry,
        ),
        uploaded_bytes=Counter(
            "filerelay_uploaded_bytes",
            "Bytes uploaded by steps that reported an upload (s3).",
            ["action"],
            registry=registry,
        ),
        end_to_end=Histogram(
            "filerelay_event_end_to_end_seconds",
            "From a file's detection by the watcher to the end of its last pipeline.",
            ["source", "state"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        ),
        compensations=Counter(
            "filerelay_compensations",
            "Compensation steps that ended (kind: undo, on_failure; outcome: succeeded, failed).",
            ["route", "kind", "outcome"],
            registry=registry,
        ),
        tasks_running=Gauge(
            "filerelay_worker_tasks_running",
            "Celery tasks running now in the worker's processes.",
            ["task"],
            multiprocess_mode="livesum",
            registry=registry,
        ),
        rate_wait=Counter(
            "filerelay_rate_limit_wait_seconds",
            "Time steps slept for a token of their destination's rate limit.",
            ["destination"],
            registry=registry,
        ),
        deferred=Counter(
            "filerelay_steps_deferred",
            "Claimed steps put back without using an attempt (reason: rate_limit, breaker).",
            ["destination", "reason"],
            registry=registry,
        ),
        breaker_opens=Counter(
            "filerelay_breaker_opens",
            "Times a destination's circuit breaker opened (seen by this worker).",
            ["destination"],
            registry=registry,
        ),
    )


def exposed_names() -> set[str]:
    """Every metric and sample name filerelay can expose (``_total``, ``_bucket``...)."""
    registry = CollectorRegistry()
    watcher_metrics(registry)
    worker_metrics(registry)
    names = set(COLLECTED_GAUGES)
    for family in registry.collect():
        names.add(family.name)
        kind = family.type
        if kind == "counter":
            names.update({family.name + "_total", family.name + "_created"})
        elif kind == "histogram":
            names.update(family.name + s for s in ("_bucket", "_count", "_sum", "_created"))
    return names
