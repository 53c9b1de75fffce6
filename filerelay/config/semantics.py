"""Checks across the validated config: names unique, references resolve, source paths exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from filerelay.config.models import PipelineConfigBase, step_slots
from filerelay.config.yamlsrc import Path_

Problem = tuple[Path_, str]


def check_semantics(
    config: PipelineConfigBase,
    connection_types: Mapping[str, str | tuple[str, ...] | None],
    check_paths: bool,
) -> list[Problem]:
    """Every cross-reference problem, each with its document path."""
    problems: list[Problem] = []
    problems += _duplicates([s.name for s in config.sources], "sources", "source")
    routes = config.routes  # type: ignore[attr-defined]
    problems += _duplicates([r.name for r in routes], "routes", "route")
    if check_paths:
        problems += list(_source_paths(config))
    source_names = {s.name for s in config.sources}
    for r_index, route in enumerate(routes):
        problems += _route_sources(route, r_index, source_names)
        slots = step_slots(route.steps)
        seen: set[str] = set()
        for _pos, _branch, step, path in slots:
            where = ("routes", r_index, "steps", *path)
            if step.name and step.name in seen:
                problems.append(((*where, "name"), f"duplicate step name {step.name!r}"))
            seen.add(step.name or "")
            problems += _connection_ref(config, step, (*where, step.action), connection_types)
        for i, step in enumerate(route.on_failure):
            where = ("routes", r_index, "on_failure", i)
            if step.name and step.name in seen:
                problems.append(((*where, "name"), f"duplicate step name {step.name!r}"))
            seen.add(step.name or "")
            problems += _connection_ref(config, step, (*where, step.action), connection_types)
    problems += _alerts(config)
    problems += _reports(config)
    return problems


def _duplicates(names: list[str], where: Path_ | str, what: str) -> list[Problem]:
    base: Path_ = (where,) if isinstance(where, str) else where
    seen: set[str] = set()
    out: list[Problem] = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(((*base, i, "name"), f"duplicate {what} {name!r}"))
        seen.add(name)
    return out


def _source_paths(config: PipelineConfigBase) -> Iterator[Problem]:
    for i, src in enumerate(config.sources):
        path = src.path.expanduser()
        if path.is_dir() or src.create:
            continue
        what = "is not a directory" if path.exists() else "does not exist"
        yield (("sources", i, "path"), f"source path {str(path)!r} {what}")


def _route_sources(route: Any, index: int, names: set[str]) -> list[Problem]:
    wanted = route.when.source
    if wanted is None:
        return []
    items = [wanted] if isinstance(wanted, str) else wanted
    return [
        (("routes", index, "when", "source"), f"unknown source {name!r}")
        for name in items
        if name not in names
    ]


def _connection_ref(
    config: PipelineConfigBase,
    step: Any,
    where: Path_,
    types: Mapping[str, str | tuple[str, ...] | None],
) -> list[Problem]:
    wanted = types.get(step.action)
    if not wanted:
        return []
    allowed = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    name = getattr(step.action_config, "connection", None)
    if name is None:
        return []
    conn = config.connections.get(name)
    if conn is None:
        known = ", ".join(sorted(config.connections)) or "none defined"
        return [((*where, "connection"), f"unknown connection {name!r} (known: {known})")]
    if conn.type not in allowed:
        kinds = " or ".join(allowed)
        return [((*where, "connection"), f"connection {name!r} is {conn.type}, not {kinds}")]
    return []


def _alerts(config: PipelineConfigBase) -> list[Problem]:
    """Rule names unique; the channels, sources and smtp connections named exist."""
    alerts = config.alerts
    if alerts is None:
        return []
    problems = _duplicates([r.name for r in alerts.rules], ("alerts", "rules"), "rule")
    known = sorted(alerts.channels)
    sources = {s.name for s in config.sources}
    for i, rule in enumerate(alerts.rules):
        for key in ("channels", "escalate_to"):
            for j, name in enumerate(getattr(rule, key)):
                if name not in alerts.channels:
                    message = f"unknown channel {name!r}" + _did_you_mean(name, known)
                    problems.append((("alerts", "rules", i, key, j), message))
        for j, name in enumerate(getattr(rule, "sources", [])):
            if name not in sources:
                problems.append((("alerts", "rules", i, "sources", j), f"unknown source {name!r}"))
    for name, channel in alerts.channels.items():
        conn_name = getattr(channel, "connection", None)
        if conn_name is None:
            continue
        conn = config.connections.get(conn_name)
        if conn is None or conn.type != "smtp":
            what = "unknown connection" if conn is None else f"{conn.type} connection"
            problems.append(
                (("alerts", "channels", name, "connection"), f"{what} {conn_name!r}: need smtp")
            )
    return problems


def _reports(config: PipelineConfigBase) -> list[Problem]:
    """SLO and schedule names unique; the routes, sources, SLOs and channels named exist."""
    problems = _duplicates([s.name for s in config.slos], "slos", "SLO")
    schedule = config.reports.schedule
    problems += _duplicates([s.name for s in schedule], ("reports", "schedule"), "schedule")
    sources = sorted(s.name for s in config.sources)
    routes = sorted(r.name for r in config.routes)  # type: ignore[attr-defined]
    for i, slo in enumerate(config.slos):
        if slo.route is not None and slo.route not in routes:
            message = f"unknown route {slo.route!r}" + _did_you_mean(slo.route, routes)
            problems.append((("slos", i, "route"), message))
        if slo.source is not None and slo.source not in sources:
            message = f"unknown source {slo.source!r}" + _did_you_mean(slo.source, sources)
            problems.append((("slos", i, "source"), message))
    channels = sorted(config.alerts.channels) if config.alerts else []
    for i, sched in enumerate(schedule):
        for j, name in enumerate(sched.channels):
            if name not in channels:
                message = f"unknown alert channel {name!r}" + _did_you_mean(name, channels)
                problems.append((("reports", "schedule", i, "channels", j), message))
    slos = sorted(s.name for s in config.slos)
    for i, rule in enumerate(config.alerts.rules if config.alerts else []):
        slo_name = getattr(rule, "slo", None)
        if slo_name is not None and slo_name not in slos:
            message = f"unknown SLO {slo_name!r}" + _did_you_mean(slo_name, slos)
            problems.append((("alerts", "rules", i, "slo"), message))
    return problems


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    known = ", ".join(candidates)
    return (f"; did you mean {close[0]!r}?" if close else "") + f" (known: {known})"
