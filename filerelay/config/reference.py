"""The config reference (Markdown) and JSON Schema, generated from the models that validate.

The documentation pages hold generated sections between marker comments
(``<!-- reference:start -->`` … ``<!-- reference:end -->``, and the same for ``settings``);
``make docs`` rewrites them with :func:`render_generated`, and a test fails when a page is
stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from filerelay.config.alerts import (
    CHANNEL_MODELS,
    RULE_MODELS,
    AlertsConfig,
    BurnWindow,
    RuleBase,
    tag_of,
)
from filerelay.config.limits import BreakerConfig
from filerelay.config.loader import ActionCatalog
from filerelay.config.models import (
    CONNECTION_MODELS,
    Defaults,
    Modified,
    RetryPolicy,
    Source,
    StepBase,
    TimeWindow,
    When,
    build_pipeline_model,
)
from filerelay.config.reports import Pricing, ReportsConfig, ScheduledReport, SloConfig, Tiering


def json_schema(catalog: ActionCatalog) -> str:
    """The JSON Schema of the whole config file (for editor completion)."""
    schema = build_pipeline_model(catalog.configs).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "filerelay pipeline config"
    return json.dumps(schema, indent=2, sort_keys=True)


def _is_duration(info: FieldInfo) -> bool:
    return any(
        getattr(getattr(m, "func", None), "__name__", "") in {"_duration", "_interval"}
        for m in info.metadata
    )


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "see below"
    else:
        value = info.default
    if value is PydanticUndefined or value is None:
        return "—"
    if _is_duration(info):
        return f"`{value:g}s`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{json.dumps(value, default=str)}`"


def _summary(model: type[BaseModel]) -> str:
    """The docstring's first paragraph, on one line."""
    paragraph = (model.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def model_table(title: str, model: type[BaseModel], skip: frozenset[str] = frozenset()) -> str:
    """One Markdown table: field, default, description."""
    lines = [f"#### {title}", "", _summary(model), ""]
    lines += ["| field | default | description |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        desc = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{info.alias or name}` | {_default(info)} | {desc} |")
    return "\n".join(lines) + "\n"


def settings_table() -> str:
    """The FILERELAY_* process settings as a Markdown table."""
    from filerelay.settings import Settings

    lines = ["| variable | default | description |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        desc = (info.description or "").replace("|", "\\|")
        if not desc and info.annotation is not None and "Literal" in str(info.annotation):
            desc = "One of " + ", ".join(f"`{a}`" for a in info.annotation.__args__) + "."
        lines.append(f"| `FILERELAY_{name.upper()}` | {_default(info)} | {desc} |")
    return "\n".join(lines) + "\n"


def _root_variants(model: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """For a RootModel over a discriminated union (``notify``): (tag, model) per variant."""
    root = model.model_fields.get("root")
    if root is None or len(model.model_fields) != 1:
        return []
    out = []
    for arg in getattr(root.annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            disc = next(iter(arg.model_fields.values()))
            tag = getattr(disc.annotation, "__args__", ("?",))[0]
            out.append((f"{next(iter(arg.model_fields))}: {tag}", arg))
    return out


RULE_BASE_KEYS = frozenset(RuleBase.model_fields)


def _type_of(connection: type[BaseModel]) -> str:
    return str(connection.model_fields["type"].annotation.__args__[0])  # type: ignore[union-attr]


def markdown_reference(catalog: ActionCatalog) -> str:
    """The config reference of ``docs/configuration.md``."""
    parts = [
        model_table("`sources[]`", Source),
        *(
            model_table(f"`connections.<name>` (type `{_type_of(c)}`)", c)
            for c in CONNECTION_MODELS
        ),
        model_table("`routes[].when`", When),
        model_table("`when.modified`", Modified),
        model_table("`when.time`", TimeWindow),
        model_table("step keys (beside the action key)", StepBase),
        model_table("`defaults`", Defaults),
        model_table("`retry` (in `defaults` or a step)", RetryPolicy),
        model_table("`breaker` (on a connection or a step)", BreakerConfig),
        model_table("`alerts`", AlertsConfig),
        *(
            model_table(f"`alerts.channels.<name>` (type `{tag_of(c, 'type')}`)", c)
            for c in CHANNEL_MODELS
        ),
        model_table("alert rule keys (every kind)", RuleBase),
        *(
            model_table(f"alert rule `kind: {tag_of(r, 'kind')}`", r, RULE_BASE_KEYS)
            for r in RULE_MODELS
        ),
        model_table("`slos[]`", SloConfig),
        model_table("`reports`", ReportsConfig),
        model_table("`reports.pricing`", Pricing),
        model_table("`reports.tiering`", Tiering),
        model_table("`reports.schedule[]`", ScheduledReport),
        model_table("`windows[]` of an `slo_burn` rule", BurnWindow),
    ]
    for name, config in sorted(catalog.configs.items()):
        variants = _root_variants(config)
        if not variants:
            parts.append(model_table(f"action `{name}`", config))
        for tag, variant in variants:
            parts.append(model_table(f"action `{name}` ({tag})", variant))
    return "\n".join(parts)


def _sections(catalog: ActionCatalog) -> dict[str, Callable[[], str]]:
    return {"settings": settings_table, "reference": lambda: markdown_reference(catalog)}


def render_generated(text: str, catalog: ActionCatalog) -> str:
    """Page text with each generated section it holds (between marker comments) brought up to
    date; a page with none of them is an error."""
    found = False
    for name, body in _sections(catalog).items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text and end not in text:
            continue
        if start not in text or end not in text:
            raise ValueError(f"page has only one of {start} ... {end}")
        found = True
        head, rest = text.split(start, 1)
        _old, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body()}{end}{tail}"
    if not found:
        raise ValueError(f"page has no generated section (one of: {', '.join(_sections(catalog))})")
    return text
