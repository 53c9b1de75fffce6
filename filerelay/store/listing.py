"""Queries behind ``filerelay events list`` and ``status``: filtered pages of events, newest
first, with keyset pagination on ``(created_at, id)`` — never OFFSET, so page 1,000 costs what
page 1 costs — and the counts ``status`` shows.

A cursor is opaque to callers: the (created_at, id) of the last row of the previous page,
base64url-encoded JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Text, and_, bindparam, exists, func, literal_column, or_, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from filerelay import fsnames
from filerelay.model import EventState
from filerelay.store.db import UTCDateTime, as_utc
from filerelay.store.rows import EventRow, PendingEvent
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines

PENDING_STATES = (EventState.QUEUED.value, EventState.PROCESSING.value)


@dataclass(frozen=True)
class EventFilter:
    """What ``events list`` (and ``reprocess --state``) select; every field optional."""

    state: str | None = None
    source: str | None = None
    route: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    path_glob: str | None = None
    search: str | None = None


@dataclass(frozen=True)
class Cursor:
    """Position after the last row of a page."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor from a previous page; ValueError when it is not one."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created, event_id = json.loads(raw)
            return cls(as_utc(datetime.fromisoformat(created)), str(event_id))
        except (binascii.Error, ValueError, TypeError) as exc:
            raise ValueError(f"not a cursor from a previous page: {text!r}") from exc


@dataclass(frozen=True)
class Page:
    """One page of event rows, newest first; ``next_cursor`` is None on the last page."""

    rows: list[EventRow]
    next_cursor: str | None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _glob_clause(conn: Connection, pattern: str) -> ColumnElement[bool]:
    """``*`` any characters (also ``/``), ``?`` one. Without ``/`` the pattern matches the file
    name at any depth; with one, the whole relpath or absolute path. Case-sensitive."""
    if "/" not in pattern:
        pattern = "*/" + pattern
    while "**" in pattern:
        pattern = pattern.replace("**", "*")
    pattern = fsnames.escape(pattern)  # the names' stored form (see NameText)
    if conn.dialect.name == "sqlite":
        glob = _stored(pattern.replace("[", "[[]"))
        return or_(fe.c.path.op("GLOB")(glob), fe.c.relpath.op("GLOB")(glob))
    like = _stored(_like_escape(pattern).replace("*", "%").replace("?", "_"))
    return or_(fe.c.path.like(like, escape="\\"), fe.c.relpath.like(like, escape="\\"))


def _stored(pattern: str) -> BindParameter[str]:
    """A pattern bound as plain text: the name columns' type would escape it once more."""
    return bindparam(None, pattern, type_=Text())


def _search_clause(conn: Connection, text: str) -> ColumnElement[bool]:
    """Keyword search (case-insensitive substring) over path, route and error text.

    The pipelines' side is one subquery (``id IN (…)``), not a correlated EXISTS per event
    row. SQLite's LIKE already ignores ASCII case, so it is used as is there: ILIKE would wrap
    both sides in lower() and cost a function call per row.
    """
    in_text = _stored(f"%{_like_escape(fsnames.readable(text))}%")
    in_names = _stored(f"%{_like_escape(fsnames.escape(text))}%")

    def match(column: Any, like: BindParameter[str] = in_text) -> ColumnElement[bool]:
        if conn.dialect.name == "sqlite":
            return cast(ColumnElement[bool], column.like(like, escape="\\"))
        return cast(ColumnElement[bool], column.ilike(like, escape="\\"))

    in_pipelines = select(pipelines.c.event_id).where(
        or_(match(pipelines.c.route), match(pipelines.c.error))
    )
    return or_(match(fe.c.path, in_names), match(fe.c.reason), fe.c.id.in_(in_pipelines))


def where_clauses(conn: Connection, flt: EventFilter) -> list[ColumnElement[bool]]:
    """The WHERE terms of a filter."""
    terms: list[ColumnElement[bool]] = []
    if flt.state:
        terms.append(fe.c.state == flt.state)
    if flt.source:
        terms.append(fe.c.source == flt.source)
    if flt.since:
        terms.append(fe.c.created_at >= flt.since)
    if flt.until:
        terms.append(fe.c.created_at < flt.until)
    if flt.route:
        terms.append(
            exists().where(pipelines.c.route == flt.route, pipelines.c.event_id == fe.c.id)
        )
    if flt.path_glob:
        terms.append(_glob_clause(conn, flt.path_glob))
    if flt.search:
        terms.append(_search_clause(conn, flt.search))
    return terms


def _created(conn: Connection, flt: EventFilter) -> Any:
    """The created_at column to order and page by.

    With a substring filter (search, path glob) no index can narrow the rows, and on SQLite
    walking the (created_at, id) index then visits the rows in random order — measured 10x
    slower on 100,000 events than a scan and a sort of the matches. ``+created_at`` (SQLite's
    way of saying "no index for this term") makes it scan. A time bound keeps the index: it
    narrows the walk, and a common match ends it early.
    """
    substring = flt.search or flt.path_glob
    if conn.dialect.name == "sqlite" and substring and not (flt.since or flt.until):
        return literal_column("+file_events.created_at", UTCDateTime)
    return fe.c.created_at


def page(conn: Connection, flt: EventFilter, limit: int, cursor: Cursor | None) -> Page:
    """Up to ``limit`` matching events after ``cursor``, newest first."""
    terms = where_clauses(conn, flt)
    created = _created(conn, flt)
    if cursor is not None:
        terms.append(
            and_(
                created <= cursor.created_at,
                or_(created < cursor.created_at, fe.c.id < cursor.id),
            )
        )
    query = select(fe).where(*terms).order_by(created.desc(), fe.c.id.desc()).limit(limit + 1)
    rows = [EventRow.of(r) for r in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows and more else None
    next_cursor = Cursor(last.created_at, last.id).encode() if last else None
    return Page(rows, next_cursor)


def routes_of(conn: Connection, event_ids: list[str]) -> dict[str, list[str]]:
    """Routes of each event's pipelines (every run, each route once, in creation order)."""
    if not event_ids:
        return {}
    query = (
        select(pipelines.c.event_id, pipelines.c.route)
        .where(pipelines.c.event_id.in_(event_ids))
        .order_by(pipelines.c.id)
    )
    out: dict[str, list[str]] = {}
    for event_id, route in conn.execute(query):
        names = out.setdefault(event_id, [])
        if route not in names:
            names.append(route)
    return out


def count_by_state_since(conn: Connection, since: datetime) -> dict[str, int]:
    """Number of events created since ``since``, per state."""
    query = select(fe.c.state, func.count()).where(fe.c.created_at >= since).group_by(fe.c.state)
    return {state: int(n) for state, n in conn.execute(query)}


def oldest_pending(conn: Connection) -> PendingEvent | None:
    """The oldest event still queued or processing, or None: one index probe per state on
    (state, created_at) (``state IN (…) ORDER BY created_at`` walks the whole created_at
    index when nothing is pending: seconds on a million events)."""
    found = []
    for state in PENDING_STATES:
        query = (
            select(fe.c.id, fe.c.state, fe.c.source, fe.c.relpath, fe.c.created_at)
            .where(fe.c.state == state)
            .order_by(fe.c.created_at, fe.c.id)  # the index's order: no walk of another index
            .limit(1)
        )
        row = conn.execute(query).mappings().first()
        if row is not None:
            found.append(PendingEvent.of(row))
    return min(found, key=lambda p: (p.created_at, p.id), default=None)
