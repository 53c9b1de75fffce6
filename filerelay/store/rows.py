"""The rows the store gives back, as typed, frozen records.

Each record has the columns of its table in the table's order, states as the enums of
:mod:`filerelay.model` (``StrEnum``: they compare equal to their plain values), and
:meth:`Row.to_json` — the row as the plain mapping the CLI's ``--json`` prints, keys in
column order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Self

from sqlalchemy.engine import RowMapping

from filerelay.model import EventState, FileEvent, JSONDict, PipelineStatus, StepPhase, StepStatus
from filerelay.store.records import event_from_row
from filerelay.store.states import AgentState


class Row:
    """What every record shares: built from a result mapping, turned back into plain JSON."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]
    #: columns stored as text that the record holds as an enum
    _enums: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    @classmethod
    def of(cls, row: Mapping[str, Any] | RowMapping, **given: Any) -> Self:
        """The record of a result row (``given``: fields not among its columns)."""
        values = {f.name: row[f.name] for f in fields(cls) if f.name not in given}
        for name, kind in cls._enums.items():
            if name in values:
                values[name] = kind(values[name])
        return cls(**values, **given)

    def to_json(self) -> JSONDict:
        """The row as a plain mapping, nested records included (field order kept)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> Any:
    if isinstance(value, Row):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class EventRow(Row):
    """One ``file_events`` row: a detected file version and its state."""

    _enums: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"state": EventState}

    id: str
    source: str
    path: str
    relpath: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int
    dedup_key: str
    sha256: str | None
    tags: dict[str, str]
    host: str
    agent: str
    stable_signal: str
    detected_at: datetime
    state: EventState
    reason: str | None
    duplicate_of: str | None
    created_at: datetime
    updated_at: datetime

    def to_event(self) -> FileEvent:
        """The ``FileEvent`` this row was recorded from."""
        return event_from_row(self.to_json())


@dataclass(frozen=True, slots=True)
class PendingEvent(Row):
    """The oldest event still ``queued`` or ``processing`` (``status``, the backlog alert)."""

    _enums: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"state": EventState}

    id: str
    state: EventState
    source: str
    relpath: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PipelineRow(Row):
    """One ``pipelines`` row: one route's run over an event."""

    _enums: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"status": PipelineStatus}

    id: int
    event_id: str
    route: str
    run: int
    config_hash: str
    status: PipelineStatus
    current_position: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class StepRow(Row):
    """One ``steps`` row: a step of a pipeline, its lease, attempts and outcome."""

    _enums: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "status": StepStatus,
        "phase": StepPhase,
    }

    id: int
    pipeline_id: int
    position: int
    branch: int
    name: str
    action: str
    status: StepStatus
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    next_attempt_at: datetime | None
    result: JSONDict | None
    last_error: str | None
    idempotency_key: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    phase: StepPhase
    undoes: int | None
    checkpoint: JSONDict | None
    agent: str | None  # the agent id of the host whose worker claimed it last


@dataclass(frozen=True, slots=True)
class RoutedStep(StepRow):
    """A step row with what its pipeline says about it: the route, event and rules."""

    route: str
    event_id: str
    config_hash: str


@dataclass(frozen=True, slots=True)
class PipelineRun(PipelineRow):
    """A pipeline row with its steps in running order (an event's timeline)."""

    steps: tuple[StepRow, ...]


@dataclass(frozen=True, slots=True)
class PoisonedStep(Row):
    """A running step whose lease expired with no attempt left (its worker died each time)."""

    id: int
    name: str
    attempts: int
    pipeline_id: int


@dataclass(frozen=True, slots=True)
class StepCheckpoint(Row):
    """An ended step still holding a checkpoint (e.g. an unfinished multipart upload)."""

    id: int
    checkpoint: JSONDict | None


@dataclass(frozen=True, slots=True)
class AgentRow(Row):
    """One ``agents`` row and the agent's ``state`` at the time it was read."""

    _enums: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"state": AgentState}

    id: str
    role: str
    host: str
    pid: int
    version: str
    sources: list[str]
    queues: list[str]
    heartbeat_s: float
    details: JSONDict | None
    started_at: datetime
    last_heartbeat_at: datetime
    stopped_at: datetime | None
    agent: str | None  # the host's agent id (the fleet); None for agents older than it
    labels: JSONDict | None
    state: AgentState


@dataclass(frozen=True, slots=True)
class SourceRow(Row):
    """One ``sources`` row: a source's auto-upload switch."""

    name: str
    root: str | None
    paused: bool
    paused_at: datetime | None
    paused_by: str | None
    updated_at: datetime
