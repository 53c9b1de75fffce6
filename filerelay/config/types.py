"""Field types for the pipeline YAML: durations, sizes, globs and templates, validated once."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from filerelay.globs import compile_glob
from filerelay.templates import Template
from filerelay.units import SizeRange, parse_duration, parse_size, parse_size_range

# Longer is a typo or an attack, not a setting: past ~2.7e15 s a timedelta overflows, and a
# timeout or interval of years means "never" without saying so.
MAX_DURATION_S = 10 * 365 * 86400.0
# An interval shorter than this is a busy loop (a polling observer at 0s spins a core).
MIN_INTERVAL_S = 0.01


def _duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {value!r} is over the limit of 10 years")
    return seconds


def _interval(value: Any) -> float:
    seconds = _duration(value)
    if seconds < MIN_INTERVAL_S:
        raise ValueError(f"interval {value!r} is shorter than {MIN_INTERVAL_S * 1000:g}ms")
    return seconds


def _size(value: Any) -> int:
    return parse_size(value)


def _glob(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a glob must be a string")
    compile_glob(value)
    return value


def _globs(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("expected a glob or a list of globs")
    return [_glob(v) for v in items]


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a template must be a string")
    Template.parse(value)
    return value


def _size_range(value: Any) -> SizeRange:
    if isinstance(value, SizeRange):
        return value
    return parse_size_range(value)


DurationS = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"type": ["string", "number"], "examples": ["500ms", "2s", "5m", "1h"]}),
]
IntervalS = Annotated[
    float,
    BeforeValidator(_interval),
    WithJsonSchema({"type": ["string", "number"], "examples": ["1s", "5m"]}),
]
SizeBytes = Annotated[
    int,
    BeforeValidator(_size),
    WithJsonSchema({"type": ["string", "integer"], "examples": ["4096", "8MiB", "1GB"]}),
]
Glob = Annotated[str, BeforeValidator(_glob)]
GlobList = Annotated[
    list[str],
    BeforeValidator(_globs),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]
TemplateStr = Annotated[
    str, BeforeValidator(_template), Field(json_schema_extra={"format": "template"})
]
SizeCondition = Annotated[
    SizeRange,
    BeforeValidator(_size_range),
    WithJsonSchema({"type": ["string", "integer"], "examples": [">=1MiB", "<10GB", "1MiB..10MiB"]}),
]
