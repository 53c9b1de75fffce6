"""The measures of the ``anomaly`` and ``slo_burn`` rule kinds (read from the rollups by
:mod:`filerelay.reports`); the other kinds are in :mod:`filerelay.alerting.measures`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from filerelay.alerting.measures import Inputs, Instance, Reading, duration, worst
from filerelay.config.alerts import AnomalyRule, SloBurnRule
from filerelay.reports.anomaly import judge
from filerelay.reports.data import RollupReader
from filerelay.reports.slo import burn_rate

KINDS = frozenset({"anomaly", "slo_burn"})


def _fmt(metric: str, value: float) -> str:
    if metric == "failure_rate":
        return f"{value:.1%} failed"
    return f"{value:,.0f} {metric}"


def anomaly(rule: AnomalyRule, inputs: Inputs, now: datetime) -> list[Instance]:
    """Groups whose last complete hour is ``threshold`` robust deviations off the baseline."""
    reader = RollupReader(inputs.store.engine)
    out = []
    seen = []
    for j in judge(reader, now, rule.metric, rule.by, rule.weeks, rule.min_weeks, rule.min_events):
        seen.append(
            (abs(j.score), rule.threshold, "all" if rule.by == "all" else f"{rule.by}={j.group}")
        )
        spike = j.score >= rule.threshold and rule.direction in ("spike", "both")
        drop = j.score <= -rule.threshold and rule.direction in ("drop", "both")
        if not (spike or drop):
            continue
        key = "all" if rule.by == "all" else f"{rule.by}={j.group}"
        labels = {} if rule.by == "all" else {rule.by: j.group}
        what = "spike" if spike else "drop"
        summary = (
            f"{key}: {what}: {_fmt(rule.metric, j.value)} in the hour from {j.hour:%a %H:00}"
            f" UTC, usually {_fmt(rule.metric, j.median)} (median of {j.weeks} weeks, "
            f"score {j.score:+.1f})"
        )
        out.append(Instance(key, summary, j.score, labels | {"direction": what}))
    inputs.note(rule, worst("score", seen, rule.threshold))
    return out


def slo_burn(rule: SloBurnRule, inputs: Inputs, now: datetime) -> list[Instance]:
    """The SLO's budget burning above a window pair's factor in both its windows."""
    slo = inputs.slos.get(rule.slo)
    if slo is None:  # the config check refuses this; a reload may race it
        return []
    reader = RollupReader(inputs.store.engine)
    subject = f"slo={slo.name}"
    inputs.note(rule, Reading(None, None, "x", subject))
    for i, win in enumerate(rule.window_pairs()):
        long_rate, files = burn_rate(reader, slo, now, win.long)
        if i == 0 and files >= rule.min_events:  # the first (fastest) pair's long window
            inputs.note(rule, Reading(long_rate, win.factor, "x", subject))
        if files < rule.min_events or long_rate < win.factor:
            continue
        short_rate, _ = burn_rate(reader, slo, now, win.short)
        if short_rate < win.factor:
            continue
        summary = (
            f"slo={slo.name}: error budget burning {long_rate:.1f}x over {duration(win.long)} "
            f"and {short_rate:.1f}x over {duration(win.short)} (limit {win.factor:g}x; "
            f"objective {slo.objective:.2%})"
        )
        inputs.note(rule, Reading(long_rate, win.factor, "x", subject))
        return [Instance(f"slo={slo.name}", summary, long_rate, {"slo": slo.name})]
    return []


def measure_analysis(rule: Any, inputs: Inputs, now: datetime) -> list[Instance]:
    """The instances of an ``anomaly`` or ``slo_burn`` rule at ``now``."""
    return anomaly(rule, inputs, now) if rule.kind == "anomaly" else slo_burn(rule, inputs, now)
