"""Checks across the validated config: names unique, references resolve, source paths exist."""

from __future__ import annotations

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
