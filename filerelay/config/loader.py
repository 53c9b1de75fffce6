"""Load a pipeline YAML into validated models, reporting every problem with file:line and field.

``load_config`` raises :class:`~filerelay.errors.ConfigError` whose ``problems`` are all the
problems found (syntax, schema, unset env vars, references, missing source paths), each as
``rules.yaml:14: routes[0].steps[1].s3.bucket: field required``.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from filerelay.config.alerts import CHANNEL_TYPES, RULE_KINDS
from filerelay.config.envsubst import substitute
from filerelay.config.models import (
    CONNECTION_TYPES,
    STEP_COMMON_KEYS,
    PipelineConfigBase,
    build_pipeline_model,
)
from filerelay.config.semantics import check_semantics
from filerelay.config.yamlsrc import MAX_CONFIG_BYTES, Path_, YamlDoc, format_path, parse_yaml
from filerelay.errors import ConfigError, ConfigProblem


class ActionCatalog:
    """What the loader needs to know of actions: their config models and connection types."""

    def __init__(
        self, configs: dict[str, Any], connection_types: dict[str, str | tuple[str, ...] | None]
    ) -> None:
        self.configs = configs
        self.connection_types = connection_types

    @classmethod
    def from_registry(cls, registry: Any) -> ActionCatalog:
        names = registry.names()
        return cls(
            {n: registry.get(n).Config for n in names},
            {n: registry.get(n).connection_type for n in names},
        )


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with where it came from."""

    model: PipelineConfigBase
    path: Path
    text: str
    sha256: str


def load_config(
    path: str | Path,
    catalog: ActionCatalog,
    *,
    env: dict[str, str] | None = None,
    check_paths: bool = True,
) -> LoadedConfig:
    """Read, parse, substitute, validate and cross-check a pipeline config file."""
    file = Path(path)
    try:
        with file.open("rb") as fh:  # never more than the limit into memory
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            too_big = f"the file is over {MAX_CONFIG_BYTES // (1024 * 1024)} MiB long"
            raise ConfigError([ConfigProblem(str(file), None, "", too_big)])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(file), None, "", "config file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError([ConfigProblem(str(file), None, "", f"cannot read: {reason}")]) from None
    model = parse_config_text(text, str(file), catalog, env=env, check_paths=check_paths)
    return LoadedConfig(model, file, text, hashlib.sha256(text.encode()).hexdigest())


def parse_config_text(
    text: str,
    file: str,
    catalog: ActionCatalog,
    *,
    env: dict[str, str] | None = None,
    check_paths: bool = True,
) -> PipelineConfigBase:
    doc = parse_yaml(text, file)
    data, env_problems = substitute(doc.data, env)
    problems = [_problem(doc, where, msg) for where, msg in env_problems]
    root = build_pipeline_model(catalog.configs)
    try:
        model = root.model_validate(data)
    except ValidationError as exc:
        problems += [_from_pydantic(doc, err, catalog) for err in exc.errors()]
        raise ConfigError(_sorted(problems)) from None
    problems += [
        _problem(doc, where, msg)
        for where, msg in check_semantics(model, catalog.connection_types, check_paths)
    ]
    if problems:
        raise ConfigError(_sorted(problems))
    return model


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.field))


def _problem(doc: YamlDoc, where: Path_, message: str) -> ConfigProblem:
    return ConfigProblem(doc.file, doc.line_of(where), format_path(where), message)


def _from_pydantic(doc: YamlDoc, err: Any, catalog: ActionCatalog) -> ConfigProblem:
    where = doc.resolve(tuple(err["loc"]), _union_tags(catalog))
    kind, msg = err["type"], err["msg"]
    if kind == "unknown_action":
        msg = _unknown_action(err.get("input"), catalog)
    elif kind == "union_tag_invalid":
        msg = _unknown_tag(err.get("ctx", {}))
        where = (*where, str(err.get("ctx", {}).get("discriminator", "")).strip("'"))
    elif kind == "missing":
        msg = "field required"
    elif kind == "extra_forbidden":
        msg = _unknown_key(where, catalog)
    elif kind in {"value_error", "assertion_error"}:
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif kind == "literal_error":
        msg = f"{msg[0].lower()}{msg[1:]} (got {err.get('input')!r})"
    else:
        msg = f"{msg[0].lower()}{msg[1:]}"
    return _problem(doc, where, msg)


def _unknown_key(where: Path_, catalog: ActionCatalog) -> str:
    """``unknown key 'bukcet'; did you mean 'bucket'?`` — or, for a step's own key written
    inside its action's mapping (``webhook: {url: …, retry: …}``), where it belongs."""
    key = str(where[-1]) if where else "?"
    action = str(where[-2]) if len(where) >= 2 else ""
    if key in STEP_COMMON_KEYS and action in catalog.configs:
        return (
            f"{key!r} belongs beside the action key, not inside {action!r}: "
            f"`- {action}: {{...}}` then `{key}: ...` at the step's indentation"
        )
    return f"unknown key {key!r}" + _did_you_mean(key, _known_keys(catalog))


def _union_tags(catalog: ActionCatalog) -> frozenset[str]:
    nested = {tag for model in catalog.configs.values() for tag in _variant_tags(model)}
    alerting = RULE_KINDS | CHANNEL_TYPES
    return frozenset(catalog.configs) | CONNECTION_TYPES | {"parallel"} | nested | alerting


def _unknown_tag(ctx: dict[str, Any]) -> str:
    """``unknown kind 'failure_rat'; did you mean 'failure_rate'?`` for a union's tag."""
    key = str(ctx.get("discriminator", "")).strip("'")
    tag = str(ctx.get("tag", ""))
    expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
    return (
        f"unknown {key} {tag!r}" + _did_you_mean(tag, expected) + f" (known: {', '.join(expected)})"
    )


def _variant_tags(model: Any) -> set[str]:
    """Tags of a RootModel union config (``notify``'s channels), which pydantic puts in locs."""
    root = getattr(model, "model_fields", {}).get("root")
    tags: set[str] = set()
    for arg in getattr(getattr(root, "annotation", None), "__args__", ()):
        fields = getattr(arg, "model_fields", None)
        if fields:
            tags.update(
                str(t) for t in getattr(next(iter(fields.values())).annotation, "__args__", ())
            )
    return tags


def _unknown_action(value: Any, catalog: ActionCatalog) -> str:
    names = sorted(catalog.configs)
    if not isinstance(value, dict):
        return f"a step must be a mapping with one action key (one of: {', '.join(names)})"
    keys = [str(k) for k in value if k not in STEP_COMMON_KEYS]
    if not keys:
        return f"step has no action; use one of: {', '.join(names)}"
    if len(keys) > 1:
        return f"step has several action keys {keys}; put each action in its own step"
    return (
        f"unknown action {keys[0]!r}"
        + _did_you_mean(keys[0], names)
        + (f" (known: {', '.join(names)})")
    )


def _did_you_mean(word: str, candidates: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _known_keys(catalog: ActionCatalog) -> set[str]:
    schema = build_pipeline_model(catalog.configs).model_json_schema()
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}).keys())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return keys
