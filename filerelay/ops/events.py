"""``filerelay events list`` and ``events show``: pages of events and one file's history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filerelay.errors import UsageError
from filerelay.ops.inputs import is_event_id
from filerelay.ops.paths import absolute
from filerelay.store import Store
from filerelay.store.listing import Cursor, EventFilter

#: Columns of an event in listings (the rest of the row is for ``show``).
LIST_FIELDS = ("id", "created_at", "state", "source", "relpath", "path", "size", "reason")


@dataclass(frozen=True)
class EventList:
    """One page: rows newest first, each with its ``routes``; None cursor on the last page."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


def list_events(
    store: Store, flt: EventFilter, limit: int = 50, cursor: str | None = None
) -> EventList:
    """A page of events matching ``flt`` after ``cursor`` (from the previous page)."""
    try:
        position = Cursor.decode(cursor) if cursor else None
    except ValueError as exc:
        raise UsageError(f"--cursor: {exc}") from None
    page = store.list_page(flt, limit, position)
    routes = store.routes_of([r["id"] for r in page.rows])
    rows = [{k: r[k] for k in LIST_FIELDS} | {"routes": routes.get(r["id"], [])} for r in page.rows]
    return EventList(rows, page.next_cursor)


def find_events(store: Store, ref: str) -> list[dict[str, Any]]:
    """The event with id ``ref``, or every recorded version of the file at path ``ref``.

    Raises :class:`UsageError` when there is none.
    """
    if is_event_id(ref):
        event = store.get_event(ref)
        if event is None:
            raise UsageError(f"no event {ref}")
        return [event]
    found = store.events_by_path(absolute(ref))
    if not found:
        raise UsageError(f"no event recorded for path {absolute(ref)}")
    return found


def history(store: Store, ref: str) -> list[dict[str, Any]]:
    """The events of ``ref`` (oldest first), each with ``pipelines``: every run's pipelines
    and their steps (attempts, durations, results, errors)."""
    return [event | {"pipelines": store.timeline(event["id"])} for event in find_events(store, ref)]
