"""What each rule kind measures: the instances of a rule that hold at ``now``, and a
:class:`Reading` of the rule whether or not it holds (its worst value over what it watches,
against its threshold), which the evaluator keeps for the console's Alerts page.

An :class:`Instance` is one thing in trouble — a route failing, an agent gone, a silent
source — keyed so that the same trouble keeps the same key from one evaluation to the next.
Every function reads the store (and, for ``backlog``, the broker's queue depth) and is
repeatable at any chosen ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from filerelay.alerting.repo import AlertStore, window_start
from filerelay.config.alerts import (
    AgentOfflineRule,
    BacklogRule,
    BreakerOpenRule,
    CompensationFailuresRule,
    FailureRateRule,
    LatencySloRule,
    SilentSourceRule,
)


@dataclass(frozen=True)
class Instance:
    """One firing condition of a rule: its key, labels, measured value and a line for people."""

    key: str
    summary: str
    value: float | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """A rule's measure at one evaluation: its worst value (the one nearest to or furthest
    past its threshold) over what it watches, that threshold, the unit of both (``ratio``,
    ``s``, ``messages``, ``count``, ``score``, ``x``: a burn rate), and what the value is of
    (``route=upload``). ``value`` None: nothing to measure yet (e.g. too few files)."""

    value: float | None
    threshold: float | None
    unit: str
    subject: str | None = None


def worst(
    unit: str, candidates: Sequence[tuple[float, float, str | None]], threshold: float | None
) -> Reading:
    """The reading of the (value, threshold, subject) nearest to or furthest past its
    threshold; with no candidate, value None against ``threshold``."""
    if not candidates:
        return Reading(None, threshold, unit)

    def ratio(c: tuple[float, float, str | None]) -> float:
        return c[0] / c[1] if c[1] else c[0]

    value, threshold, subject = max(candidates, key=ratio)
    return Reading(value, threshold, unit, subject)


@dataclass
class Inputs:
    """Where the measures come from."""

    store: AlertStore
    sources: list[str]
    queue_depth: Callable[[], int] | None = None
    #: the depth of each host queue of the fleet (its files wait there while it has no worker)
    host_queue_depths: Callable[[], dict[str, int]] | None = None
    slos: Mapping[str, Any] = field(default_factory=dict)  # SLO configs by name (slo_burn)
    #: each rule's reading of its last measure, by rule name (set by the measure functions)
    readings: dict[str, Reading] = field(default_factory=dict)

    def note(self, rule: Any, reading: Reading) -> None:
        """Keep ``rule``'s reading of this evaluation."""
        self.readings[rule.name] = reading


def duration(seconds: float) -> str:
    """``90`` → ``1m30s``: a short human duration for messages."""
    seconds = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts[:2])


def _key(by: str, value: str) -> tuple[str, dict[str, str]]:
    return ("all", {}) if by == "all" else (f"{by}={value}", {by: value})


def failure_rate(rule: FailureRateRule, inputs: Inputs, now: datetime) -> list[Instance]:
    counts = inputs.store.failure_counts(window_start(now, rule.window), rule.over, rule.by)
    out = []
    seen = []
    for group, (failed, total) in sorted(counts.items()):
        rate = failed / total if total else 0.0
        if total >= rule.min_events:
            seen.append((rate, rule.threshold, _key(rule.by, group)[0]))
        if total < rule.min_events or rate < rule.threshold:
            continue
        key, labels = _key(rule.by, group)
        summary = (
            f"{key}: {failed} of {total} {rule.over} failed ({rate:.0%}) in the last "
            f"{duration(rule.window)} (threshold {rule.threshold:.0%})"
        )
        out.append(Instance(key, summary, rate, labels))
    inputs.note(rule, worst("ratio", seen, rule.threshold))
    return out


def backlog(rule: BacklogRule, inputs: Inputs, now: datetime) -> list[Instance]:
    out = []
    seen: list[tuple[float, float, str | None]] = []
    if rule.max_queue_depth is not None and inputs.queue_depth is not None:
        depth = inputs.queue_depth()
        seen.append((float(depth), float(rule.max_queue_depth), "queue"))
        if depth > rule.max_queue_depth:
            summary = f"queue: {depth} messages waiting (limit {rule.max_queue_depth})"
            out.append(Instance("queue", summary, float(depth)))
    if rule.max_queue_depth is not None and inputs.host_queue_depths is not None:
        for queue, depth in sorted(inputs.host_queue_depths().items()):
            seen.append((float(depth), float(rule.max_queue_depth), f"queue={queue}"))
            if depth > rule.max_queue_depth:
                summary = f"{queue}: {depth} messages waiting (limit {rule.max_queue_depth})"
                out.append(Instance(f"queue={queue}", summary, float(depth), {"queue": queue}))
    if rule.max_pending_age is not None:
        oldest = inputs.store.oldest_pending()
        age = (now - oldest.created_at).total_seconds() if oldest else 0.0
        seen.append((age, rule.max_pending_age, "oldest_pending"))
        if oldest is not None and age > rule.max_pending_age:
            summary = (
                f"oldest pending: {oldest.source}/{oldest.relpath} {oldest.state} for "
                f"{duration(age)} (limit {duration(rule.max_pending_age)})"
            )
            out.append(Instance("oldest_pending", summary, age, {"event_id": oldest.id}))
    by_depth = rule.max_queue_depth is not None
    limit = rule.max_queue_depth if by_depth else rule.max_pending_age
    reading = worst("messages", seen, limit)
    if reading.subject == "oldest_pending" or not by_depth:  # an age, not a depth
        reading = Reading(reading.value, reading.threshold, "s", reading.subject)
    inputs.note(rule, reading)
    return out


def agent_offline(rule: AgentOfflineRule, inputs: Inputs, now: datetime) -> list[Instance]:
    out = []
    seen = []
    for row in inputs.store.agents(now, window_start(now, rule.forget_after), rule.role):
        silent = (now - row.last_heartbeat_at).total_seconds()
        if row.stopped_at is not None:
            continue
        if not all((row.labels or {}).get(k) == v for k, v in rule.labels.items()):
            continue
        seen.append((silent, rule.after, f"agent={row.id}"))
        if silent <= rule.after:
            continue
        labels = {"agent": row.id, "role": row.role, "host": row.host}
        if row.agent:  # the fleet: the host's agent id and its labels, to route the alert
            labels.update({**(row.labels or {}), "agent_id": row.agent})
        summary = (
            f"{row.role} {row.id} (pid {row.pid} on {row.host}): no heartbeat "
            f"for {duration(silent)}"
        )
        out.append(Instance(f"agent={row.id}", summary, silent, labels))
    inputs.note(rule, worst("s", seen, rule.after))
    return out


def silent_source(rule: SilentSourceRule, inputs: Inputs, now: datetime) -> list[Instance]:
    last, registered = inputs.store.last_file_at()
    out = []
    seen = []
    for name in rule.sources or inputs.sources:
        since = last.get(name) or registered.get(name)
        if since is None:  # never watched: nothing to be silent about yet
            continue
        silent = (now - since).total_seconds()
        seen.append((silent, rule.after, f"source={name}"))
        if silent <= rule.after:
            continue
        what = "no file" if name in last else "no file ever"
        summary = f"source={name}: {what} for {duration(silent)} (limit {duration(rule.after)})"
        out.append(Instance(f"source={name}", summary, silent, {"source": name}))
    inputs.note(rule, worst("s", seen, rule.after))
    return out


def compensation_failures(
    rule: CompensationFailuresRule, inputs: Inputs, now: datetime
) -> list[Instance]:
    counts = inputs.store.compensation_failures(window_start(now, rule.window))
    seen = [(float(n), float(rule.threshold), f"route={route}") for route, n in counts.items()]
    inputs.note(rule, worst("count", seen or [(0.0, float(rule.threshold), None)], None))
    return [
        Instance(
            f"route={route}",
            f"route={route}: {n} pipeline(s) ended compensation_failed in the last "
            f"{duration(rule.window)} (their effects may not have been undone)",
            float(n),
            {"route": route},
        )
        for route, n in sorted(counts.items())
        if n >= rule.threshold
    ]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_slo(rule: LatencySloRule, inputs: Inputs, now: datetime) -> list[Instance]:
    out = []
    seen = []
    for group, values in sorted(
        inputs.store.latencies(window_start(now, rule.window), rule.by).items()
    ):
        if len(values) < rule.min_events:
            continue
        value = percentile(values, rule.percentile)
        seen.append((value, rule.max_latency, _key(rule.by, group)[0]))
        if value <= rule.max_latency:
            continue
        key, labels = _key(rule.by, group)
        summary = (
            f"{key}: p{rule.percentile:g} latency {duration(value)} over {len(values)} files in "
            f"the last {duration(rule.window)} (limit {duration(rule.max_latency)})"
        )
        out.append(Instance(key, summary, value, labels))
    inputs.note(rule, worst("s", seen, rule.max_latency))
    return out


def breaker_open(rule: BreakerOpenRule, inputs: Inputs, now: datetime) -> list[Instance]:
    out = []
    for row in inputs.store.breakers():
        if row.state == "closed" or (
            rule.destinations and row.destination not in rule.destinations
        ):
            continue
        since = row.opened_at or row.updated_at
        summary = (
            f"destination={row.destination}: breaker {row.state} for "
            f"{duration((now - since).total_seconds())} after {row.failures} failures "
            f"(last: {(row.last_error or '-')[:200]})"
        )
        labels = {"destination": row.destination, "state": row.state}
        out.append(Instance(f"destination={row.destination}", summary, float(row.opens), labels))
    subject = out[0].key if len(out) == 1 else None
    inputs.note(rule, Reading(float(len(out)), 0.0, "count", subject))
    return out


MEASURES: dict[str, Callable[[Any, Inputs, datetime], list[Instance]]] = {
    "failure_rate": failure_rate,
    "backlog": backlog,
    "agent_offline": agent_offline,
    "silent_source": silent_source,
    "compensation_failures": compensation_failures,
    "latency_slo": latency_slo,
    "breaker_open": breaker_open,
}


def measure(rule: Any, inputs: Inputs, now: datetime) -> list[Instance]:
    """The instances of ``rule`` that hold at ``now``."""
    if rule.kind in ("anomaly", "slo_burn"):  # read from the rollups (filerelay.reports)
        from filerelay.alerting.analysis import measure_analysis

        return measure_analysis(rule, inputs, now)
    return MEASURES[rule.kind](rule, inputs, now)
