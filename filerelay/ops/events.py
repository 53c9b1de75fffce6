"""``filerelay events list`` and ``events show``: pages of events and one file's history."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from filerelay.errors import UsageError
from filerelay.model import EventState, JSONDict
from filerelay.ops.inputs import is_event_id
from filerelay.ops.paths import absolute, locate
from filerelay.store import Store
from filerelay.store.listing import Cursor, EventFilter
from filerelay.store.rows import EventRow, PipelineRun


@dataclass(frozen=True, slots=True)
class ListedEvent:
    """An event as listings show it (the rest of its row is for ``show``) with its routes."""

    id: str
    created_at: datetime
    state: EventState
    source: str
    relpath: str
    path: str
    size: int
    reason: str | None
    routes: list[str]

    def to_json(self) -> JSONDict:
        """The ``--json`` form, keys in field order."""
        return asdict(self)


@dataclass(frozen=True)
class EventList:
    """One page: rows newest first, each with its ``routes``; None cursor on the last page."""

    rows: list[ListedEvent]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class EventHistory:
    """One event and every run of its pipelines with their steps (``events show``)."""

    event: EventRow
    pipelines: list[PipelineRun]

    def to_json(self) -> JSONDict:
        """The event's columns, then ``pipelines`` (each with its ``steps``)."""
        return self.event.to_json() | {"pipelines": [p.to_json() for p in self.pipelines]}


def list_events(
    store: Store, flt: EventFilter, limit: int = 50, cursor: str | None = None
) -> EventList:
    """A page of events matching ``flt`` after ``cursor`` (from the previous page)."""
    try:
        position = Cursor.decode(cursor) if cursor else None
    except ValueError as exc:
        raise UsageError(f"--cursor: {exc}") from None
    page = store.list_page(flt, limit, position)
    routes = store.routes_of([r.id for r in page.rows])
    rows = [_listed(r, routes.get(r.id, [])) for r in page.rows]
    return EventList(rows, page.next_cursor)


def _listed(row: EventRow, routes: list[str]) -> ListedEvent:
    return ListedEvent(
        id=row.id,
        created_at=row.created_at,
        state=row.state,
        source=row.source,
        relpath=row.relpath,
        path=row.path,
        size=row.size,
        reason=row.reason,
        routes=routes,
    )


def find_events(store: Store, ref: str, sources: list[Any] | None = None) -> list[EventRow]:
    """The event with id ``ref``, or every recorded version of the file at path ``ref``.

    Raises :class:`UsageError` when there is none; with the configured ``sources``, a path
    outside all of them says so (no file there can ever have an event).
    """
    if is_event_id(ref):
        event = store.get_event(ref)
        if event is None:
            raise UsageError(f"no event {ref}")
        return [event]
    found = store.events_by_path(absolute(ref))
    if found:
        return found
    if sources is not None:
        source, relpath = locate(sources, ref)  # raises: outside every source
        raise UsageError(
            f"no event recorded for path {absolute(ref)} (source {source.name}, {relpath})"
        )
    raise UsageError(
        f"no event recorded for path {absolute(ref)} (pass --config to check it is in a source)"
    )


def history(store: Store, ref: str, sources: list[Any] | None = None) -> list[EventHistory]:
    """The events of ``ref`` (oldest first), each with ``pipelines``: every run's pipelines
    and their steps (attempts, durations, results, errors)."""
    found = find_events(store, ref, sources)
    return [EventHistory(event, store.timeline(event.id)) for event in found]
