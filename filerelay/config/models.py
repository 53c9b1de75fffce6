"""Pipeline config models: ``connections``, ``sources``, ``routes``, ``defaults``.

Every model rejects unknown keys and documents each field; the JSON Schema and the docs'
config reference are generated from them. Step models are built from the action registry's config
models by :func:`build_pipeline_model`, so a third-party action validates the same way.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from datetime import time as dt_time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    field_validator,
    model_validator,
)

from filerelay.config.alerts import AlertsConfig
from filerelay.config.connections import (
    CONNECTION_MODELS,
    CONNECTION_TYPES,
    AmqpConnection,
    Connection,
    MqttConnection,
    NatsConnection,
    RedisConnection,
    S3Connection,
    SmtpConnection,
)
from filerelay.config.limits import BreakerConfig, RateLimit, breaker_field, rate_limit_field
from filerelay.config.reports import ReportsConfig, SloConfig
from filerelay.config.types import DurationS, GlobList, IntervalS, SizeCondition

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
STEP_COMMON_KEYS = frozenset({"name", "timeout", "retry", "rate_limit", "breaker"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = [
    "CONNECTION_MODELS",
    "CONNECTION_TYPES",
    "AmqpConnection",
    "Connection",
    "MqttConnection",
    "NatsConnection",
    "RedisConnection",
    "S3Connection",
    "SmtpConnection",
]


class Source(Strict):
    """A watched directory tree."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique source name.")
    path: Path = Field(description="Root directory (relative paths: to the working directory).")
    create: bool = Field(False, description="Create the directory if it does not exist.")
    include: GlobList = Field(["**"], description="Globs of files to take (relative path).")
    exclude: GlobList = Field([], description="Globs of files to ignore.")
    include_hidden: bool = Field(False, description="Take dot-files and files in dot-dirs.")
    recursive: bool = Field(True, description="Watch subdirectories.")
    silence: DurationS = Field(2.0, description="Quiet time (size, mtime unchanged) = stable.")
    stable_when: Literal["close", "silence"] = Field(
        "close",
        description="'close': also wait until no process has the file open for writing "
        "(Linux, bounded by open_timeout); 'silence': the quiet time alone (log appenders).",
    )
    open_timeout: DurationS = Field(3600.0, description="Longest wait for a writer to close.")
    ready_marker: str | None = Field(
        None, description="Marker file that must exist, e.g. '{name}.done' (same directory)."
    )
    observer: Literal["auto", "native", "polling"] = Field(
        "auto", description="auto: polling on NFS/SMB/FUSE/9p mounts, inotify elsewhere."
    )
    poll_interval: IntervalS = Field(1.0, description="Polling observer interval.")
    rescan_interval: IntervalS = Field(300.0, description="Full reconcile walk period.")
    dedup: Literal["path", "content"] = Field(
        "path",
        description="path: path+size+mtime_ns+inode+ctime_ns; content: SHA-256 of the bytes.",
    )
    tags: dict[str, str] = Field({}, description="Tags copied onto every event.")
    shared: bool = Field(
        False,
        description="On storage every worker mounts at this path (NFS, a shared volume): its "
        "steps run on any worker (the shared queue). False: steps that read the file run on "
        "the watcher's host (its host queue).",
    )


class RetryPolicy(Strict):
    """Retries of retryable errors: exponential backoff with full jitter."""

    max_attempts: int = Field(5, ge=1, le=100, description="Attempts including the first.")
    backoff: DurationS = Field(1.0, description="First backoff; doubles each attempt.")
    max_backoff: DurationS = Field(300.0, description="Cap of one backoff.")


class Defaults(Strict):
    """Defaults for every step."""

    retry: RetryPolicy = Field(RetryPolicy(), description="Retry policy of every step.")
    timeout: DurationS = Field(600.0, description="Step time limit.")


class Modified(Strict):
    """Modification-time condition: older and/or newer than a duration before now."""

    older_than: DurationS | None = Field(None, description="mtime at least this long ago.")
    newer_than: DurationS | None = Field(None, description="mtime at most this long ago.")

    @model_validator(mode="after")
    def _one_given(self) -> Modified:
        if self.older_than is None and self.newer_than is None:
            raise ValueError("give older_than and/or newer_than")
        return self


class TimeWindow(Strict):
    """A time-of-day window, e.g. 22:00-06:00 in Asia/Shanghai (may wrap past midnight)."""

    between: str = Field(description="'HH:MM-HH:MM' (24 h clock); wraps past midnight.")
    tz: str = Field("UTC", description="IANA time zone, e.g. Asia/Shanghai.")
    outside: Literal["wait", "skip"] = Field(
        "wait", description="Outside the window: wait for it to open, or skip the route."
    )

    @field_validator("between")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


def parse_window(value: str) -> tuple[dt_time, dt_time]:
    """``"22:00-06:00"`` -> (start, end); raises ValueError naming the value."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    bad = f"bad time window {value!r} (use 'HH:MM-HH:MM', e.g. '22:00-06:00')"
    if not match:
        raise ValueError(bad)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2) or (h1, m1) == (h2, m2):
        raise ValueError(bad)
    end = dt_time(0, 0) if h2 == 24 else dt_time(h2, m2)
    return dt_time(h1, m1), end


class Clause(Strict):
    """Conditions; all given ones must hold. ``any`` holds if one of its clauses holds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str | list[str] | None = Field(None, description="Source name(s).")
    glob: GlobList | None = Field(None, description="Glob(s) on the relative path.")
    regex: str | None = Field(None, description="Regular expression searched in the relpath.")
    ext: str | list[str] | None = Field(None, description="Extension(s), with or without dot.")
    size: SizeCondition | None = Field(None, description="'>=1MiB', '<10GB', '1MiB..10MiB'.")
    tags: dict[str, str] | None = Field(None, description="Tags that must all be present.")
    mime: str | list[str] | None = Field(
        None, description="MIME type(s) sniffed from the first bytes; wildcards like 'image/*'."
    )
    modified: Modified | None = Field(None, description="Modification time condition.")
    any: list[Clause] | None = Field(None, description="OR: at least one clause holds.")
    not_: Clause | None = Field(None, alias="not", description="NOT: the clause does not hold.")

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regex {value!r}: {exc}") from None
        return value

    @field_validator("mime")
    @classmethod
    def _mime(cls, value: str | list[str] | None) -> str | list[str] | None:
        for item in [value] if isinstance(value, str) else value or []:
            if not re.fullmatch(r"[\w.+-]+/(\*|[\w.+-]+)", item):
                raise ValueError(f"bad MIME pattern {item!r} (use e.g. 'image/*', 'text/csv')")
        return value


class When(Clause):
    """Conditions of a route; all given ones must hold (``time`` only at the top level)."""

    time: TimeWindow | None = Field(None, description="Time-of-day window.")


class StepBase(Strict):
    """Keys every step may have beside its action key."""

    name: str | None = Field(None, pattern=NAME_PATTERN, description="Step name for templates.")
    timeout: DurationS | None = Field(None, description="Time limit of this step.")
    retry: RetryPolicy | None = Field(None, description="Retry policy of this step.")
    rate_limit: RateLimit | None = rate_limit_field()
    breaker: BreakerConfig | None = breaker_field()

    @property
    def action(self) -> str:
        """The action key of this step."""
        return next(iter(type(self).model_fields.keys() - StepBase.model_fields.keys()))

    @property
    def action_config(self) -> BaseModel:
        return getattr(self, self.action)  # type: ignore[no-any-return]


class ParallelBase(Strict):
    """A group of steps run at the same time; the chain continues when all succeed."""

    @property
    def action(self) -> str:
        return "parallel"

    @property
    def children(self) -> list[StepBase]:
        return list(getattr(self, "parallel", []))


def _step_tag(value: Any) -> str | None:
    if isinstance(value, StepBase | ParallelBase):
        return value.action
    if isinstance(value, Mapping):
        keys = [k for k in value if k not in STEP_COMMON_KEYS]
        return str(keys[0]) if len(keys) == 1 else None
    return None


def step_slots(steps: list[Any]) -> list[tuple[int, int, StepBase, tuple[Any, ...]]]:
    """Every action step of a route as (position, branch, step, path under the route's
    ``steps``); the children of a ``parallel:`` step share its position."""
    slots: list[tuple[int, int, StepBase, tuple[Any, ...]]] = []
    for position, step in enumerate(steps):
        if isinstance(step, ParallelBase):
            for branch, child in enumerate(step.children):
                slots.append((position, branch, child, (position, "parallel", branch)))
        else:
            slots.append((position, 0, step, (position,)))
    return slots


def route_summary(routes: list[Any]) -> dict[str, str]:
    """Each route's actions in order, for a start-up line: ``{"video": "s3 > webhook"}``
    (the children of a ``parallel:`` step are listed one after another)."""
    return {r.name: " > ".join(s.action for _, _, s, _ in step_slots(r.steps)) for r in routes}


def slot_name(position: int, branch: int, step: StepBase, parallel: bool) -> str:
    """A step's name: its ``name``, else ``<position>-<action>`` (``<pos>.<branch>-…``)."""
    if step.name:
        return step.name
    return f"{position}.{branch}-{step.action}" if parallel else f"{position}-{step.action}"


class RouteBase(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Unique route name.")
    when: When = Field(When(), description="Conditions (all must hold).")
    stop: bool = Field(False, description="Stop evaluating later routes when this one matches.")


class PipelineConfigBase(Strict):
    version: Literal[1] = Field(1, description="Config format version.")
    connections: dict[str, Connection] = Field({}, description="Named endpoints.")
    sources: list[Source] = Field(min_length=1, description="Watched directories.")
    defaults: Defaults = Field(Defaults(), description="Step defaults.")
    alerts: AlertsConfig | None = Field(None, description="Alert channels and rules.")
    slos: list[SloConfig] = Field([], description="Service level objectives (see reports).")
    reports: ReportsConfig = Field(ReportsConfig(), description="Reports: prices, schedules.")

    def source(self, name: str) -> Source:
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)

    def route(self, name: str) -> Any:
        for route in self.routes:  # type: ignore[attr-defined]
            if route.name == name:
                return route
        raise KeyError(name)


def _frozen_actions(
    actions: Mapping[str, type[BaseModel]],
) -> tuple[tuple[str, type[BaseModel]], ...]:
    return tuple(sorted(actions.items()))


def build_pipeline_model(actions: Mapping[str, type[BaseModel]]) -> type[PipelineConfigBase]:
    """The root config model whose steps accept exactly the given actions."""
    return _build(_frozen_actions(actions))


@lru_cache(maxsize=8)
def _build(actions: tuple[tuple[str, type[BaseModel]], ...]) -> type[PipelineConfigBase]:
    variants = []
    for name, cfg in actions:
        with warnings.catch_warnings():
            # an action named like a BaseModel method ('copy') shadows it; steps never call it
            warnings.filterwarnings("ignore", message=".*shadows an attribute.*")
            model = create_model(  # type: ignore[call-overload]
                f"{name.title().replace('_', '')}Step",
                __base__=StepBase,
                __doc__=cfg.__doc__,
                **{name: (cfg, Field(description=(cfg.__doc__ or name).strip().splitlines()[0]))},
            )
        variants.append(Annotated[model, Tag(name)])
    names = ", ".join(n for n, _ in actions)
    action_step: Any = Annotated[  # built at run time from the registry
        Union[tuple(variants)],  # noqa: UP007
        Discriminator(
            _step_tag,
            custom_error_type="unknown_action",
            custom_error_message=f"a step needs exactly one action key, one of: {names}",
        ),
    ]
    parallel = create_model(
        "ParallelStep",
        __base__=ParallelBase,
        parallel=(
            list[action_step],
            Field(min_length=2, description="Steps run at the same time; all must succeed."),
        ),
    )
    step_type: Any = Annotated[
        Union[tuple([*variants, Annotated[parallel, Tag("parallel")]])],  # noqa: UP007
        Discriminator(
            _step_tag,
            custom_error_type="unknown_action",
            custom_error_message=f"a step needs exactly one action key, one of: {names}, parallel",
        ),
    ]
    route = create_model(
        "Route",
        __base__=RouteBase,
        steps=(list[step_type], Field(min_length=1, description="Steps, run in order.")),
        on_failure=(
            list[action_step],
            Field(
                [],
                description="Steps run, in order, when a step failed for good (after the "
                "completed steps were compensated), e.g. a quarantine move and a notify.",
            ),
        ),
    )
    return create_model(
        "PipelineConfig",
        __base__=PipelineConfigBase,
        routes=(list[route], Field(min_length=1, description="Rules, evaluated in order.")),
    )
