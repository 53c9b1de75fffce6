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
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Connection,
    Text,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from filerelay import fsnames
from filerelay.model import EventState
from filerelay.store import search
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
    # Paths are absolute (they start with '/'), relpaths never do: a pattern starting with
    # '/' can only match the path, one starting with another literal character only the
    # relpath — a prefix SQLite then finds on the relpath index (GLOB is case-sensitive, as
    # the index). Only a pattern starting with a wildcard needs both columns.
    columns = [fe.c.path, fe.c.relpath]
    if pattern.startswith("/"):
        columns = [fe.c.path]
    elif pattern[:1] not in ("*", "?", "["):
        columns = [fe.c.relpath]
    if conn.dialect.name == "sqlite":
        glob = _stored(pattern.replace("[", "[[]"))
        clause = or_(*(c.op("GLOB")(glob) for c in columns))
        if columns != [fe.c.relpath]:  # (a relpath prefix has its index) the search index
            names = [c.name for c in columns]
            rowids = search.path_candidates(conn, pattern, names, SEARCH_CAP)
            if rowids is not None:
                return and_(literal_column("file_events.rowid").in_(rowids), clause)
        return clause
    like = _stored(_like_escape(pattern).replace("*", "%").replace("?", "_"))
    clause = or_(*(c.like(like, escape="\\") for c in columns))
    prefix = re.split(r"[*?]", pattern, maxsplit=1)[0][: search.PATH_PREFIX_LEN]
    if columns == [fe.c.path] and prefix:  # the prefix index on left(path, N)
        head = _stored(_like_escape(prefix) + "%")
        return and_(func.left(fe.c.path, search.PATH_PREFIX_LEN).like(head, escape="\\"), clause)
    if columns != [fe.c.relpath]:  # no literal prefix: the trigram indexes
        return _by_longest_run(pattern, columns, clause, like)
    return clause


def _by_longest_run(
    pattern: str, columns: list[Any], clause: ColumnElement[bool], like: BindParameter[str]
) -> ColumnElement[bool]:
    """PostgreSQL: a glob without a literal prefix, narrowed by the trigram indexes to the
    rows holding its longest literal run between wildcards and slashes (a superset, same
    case), the whole pattern then tested on those rows only. Given the whole pattern, the
    index also read the trigrams every path holds ('/f4' of '*/f4242*.bin': each name
    starting 'f4'; '.bin'): 40 ms against 4 ms at 1,000,000 events."""
    run = max(re.split(r"[*?/]", pattern), key=len)
    if len(run) < search.MIN_CHARS:
        return clause
    holds = _stored(f"%{_like_escape(run)}%")
    unindexed = [c.op("||")(literal_column("''")) for c in columns]  # tested, not indexed
    return and_(
        or_(*(c.like(holds, escape="\\") for c in columns)),
        or_(*(c.like(like, escape="\\") for c in unindexed)),
    )


def _stored(pattern: str) -> BindParameter[str]:
    """A pattern bound as plain text: the name columns' type would escape it once more."""
    return bindparam(None, pattern, type_=Text())


#: A keyword matching at most this many events is looked up in the search index; beyond,
#: the page is found by walking the newest events (a common keyword fills a page soon).
SEARCH_CAP = 2000


def _search_clause(conn: Connection, text: str) -> tuple[ColumnElement[bool], bool]:
    """Keyword search (case-insensitive substring) over path, route and error text.

    The search index (:mod:`filerelay.store.search`: pg_trgm on PostgreSQL, FTS5 trigram on
    SQLite) names the matching events when they are at most :data:`SEARCH_CAP`; otherwise
    (a common or short keyword, no index) the terms below test each row. For a common
    keyword the pipelines' side is correlated (the newest events are walked and a page fills
    soon: an index probe each); otherwise one subquery (``id IN (…)``), not an
    EXISTS per event row of a scan. SQLite's LIKE
    already ignores ASCII case, so it is used as is there: ILIKE would wrap both sides in
    lower() and cost a function call per row. The flag says whether the index answered.
    """
    found = search.candidates(conn, fsnames.escape(text), fsnames.readable(text), SEARCH_CAP)
    if found.ids is not None:
        if not found.ids:
            return false(), True
        if conn.dialect.name == "postgresql":  # one array parameter: up to 2,000 ids bound
            # one by one (IN) cost 18 ms against 10 for a page of 1,111 at 1,000,000 events
            return fe.c.id == any_(bindparam(None, found.ids, type_=ARRAY(Text()))), True
        return fe.c.id.in_(found.ids), True
    return _keyword_test(conn, text, fe.c, correlated=found.many), False


def _keyword_test(
    conn: Connection, text: str, columns: Any, correlated: bool
) -> ColumnElement[bool]:
    """The keyword tested on each row of ``columns`` (the events' table, or a subquery of
    its rows): its path, its error, or one of its pipelines' route or error holds it.
    ``correlated``: a probe of the pipelines per row (the newest rows are walked), else one
    subquery of the matching pipelines' events."""
    readable, stored = fsnames.readable(text), fsnames.escape(text)
    in_text = _stored(f"%{_like_escape(readable)}%")
    in_names = _stored(f"%{_like_escape(stored)}%")

    def match(column: Any, like: BindParameter[str] = in_text) -> ColumnElement[bool]:
        if conn.dialect.name == "sqlite":
            return cast(ColumnElement[bool], column.like(like, escape="\\"))
        return cast(ColumnElement[bool], column.ilike(like, escape="\\"))

    in_pipelines: ColumnElement[bool]
    if correlated:  # the newest events are walked: a probe per event, no pipelines scan
        # (a scalar subquery with LIMIT: PostgreSQL turns an EXISTS under OR into a hashed
        # subplan that reads every matching pipeline first — 0.39 s against 0.01 s at 1M)
        in_pipelines = (
            select(literal_column("1"))
            .where(
                pipelines.c.event_id == columns.id,
                or_(match(pipelines.c.route), match(pipelines.c.error)),
            )
            .limit(1)
            .scalar_subquery()
            .is_not(None)
        )
    else:
        in_pipelines = columns.id.in_(
            select(pipelines.c.event_id).where(
                or_(match(pipelines.c.route), match(pipelines.c.error))
            )
        )
    return or_(match(columns.path, in_names), match(columns.reason), in_pipelines)


def where_clauses(conn: Connection, flt: EventFilter) -> list[ColumnElement[bool]]:
    """The WHERE terms of a filter."""
    return _terms(conn, flt)[0]


#: SQLite's ``created_at`` with no index ("+"): the planner must narrow by another term.
_UNINDEXED_CREATED = literal_column("+file_events.created_at", UTCDateTime)
#: A state with at most this many events is read whole from the (state, created_at) index
#: and sorted, rather than found by walking the newest events.
FEW_IN_STATE = 5000


def _few_in_state(conn: Connection, state: str) -> list[int] | None:
    """SQLite: the rowids of the events in ``state`` when it holds at most
    :data:`FEW_IN_STATE` (read from the (state, created_at) index, which holds them)."""
    probe: Any = select(literal_column("file_events.rowid")).where(fe.c.state == state)
    rowids = [int(r) for r in conn.execute(probe.limit(FEW_IN_STATE + 1)).scalars()]
    return rowids if len(rowids) <= FEW_IN_STATE else None


def _terms(conn: Connection, flt: EventFilter) -> tuple[list[ColumnElement[bool]], Any]:
    """The WHERE terms, and the created_at column to bound, order and page by.

    On SQLite the planner, not knowing how many rows a term selects (no histograms), likes
    to walk the (created_at, id) index newest first and test each row: right for a common
    match, a walk of the whole table for a rare one (an empty state, a keyword in ten
    files). So when the rows are known to be few — a state with at most
    :data:`FEW_IN_STATE` events, a keyword the search index answered — ``+created_at``
    (SQLite's "no index for this term") makes it read those rows and sort them. A substring
    filter the index cannot narrow (a path glob, a common keyword) scans and sorts without
    a time bound, and walks the index with one (a time bound narrows the walk, a common
    match ends it early). A small state's rows are named by rowid (read from the (state,
    created_at) index by the probe): with its statistics giving each state an equal share
    (half the table with two states) the planner scanned the table for an empty state,
    0.17 to 0.7 s at 1,000,000 events.
    """
    terms: list[ColumnElement[bool]] = []
    sqlite = conn.dialect.name == "sqlite"
    few = False
    if flt.search:
        clause, few = _search_clause(conn, flt.search)
        terms.append(clause)
    if flt.state:
        terms.append(fe.c.state == flt.state)
        rowids = _few_in_state(conn, flt.state) if sqlite and not few else None
        if rowids is not None:
            terms.append(literal_column("file_events.rowid").in_(rowids))
            few = True
    created: Any = fe.c.created_at
    if sqlite and (few or (flt.path_glob and not flt.search and not (flt.since or flt.until))):
        created = _UNINDEXED_CREATED
    if flt.source:
        terms.append(fe.c.source == flt.source)
    if flt.since:
        terms.append(created >= flt.since)
    if flt.until:
        terms.append(created < flt.until)
    if flt.route:
        terms.append(
            exists().where(pipelines.c.route == flt.route, pipelines.c.event_id == fe.c.id)
        )
    if flt.path_glob:
        terms.append(_glob_clause(conn, flt.path_glob))
    return terms, created


#: PostgreSQL: a keyword the planner expects in more than :data:`SEARCH_CAP` events is first
#: tested on this many of the newest events (those the other filters keep, after the
#: cursor); when a page fills among them, that is the page. A common keyword (1 event in 17)
#: is found so in 13 ms without asking the search index, whose count of up to
#: :data:`SEARCH_CAP` matches cost 65 ms at 1,000,000 events (a 258 ms p99). A rare one is
#: not probed (a miss tests every probed row: 11 ms).
PROBE_NEWEST = 1000


def page(conn: Connection, flt: EventFilter, limit: int, cursor: Cursor | None) -> Page:
    """Up to ``limit`` matching events after ``cursor``, newest first."""
    if flt.search and _likely_many(conn, flt.search):
        probed = _probe_newest(conn, flt, limit, cursor)
        if probed is not None:
            return probed
    terms, created = _terms(conn, flt)
    if cursor is not None:
        terms.append(_after(created, cursor))
    query = select(fe).where(*terms).order_by(created.desc(), fe.c.id.desc()).limit(limit + 1)
    return _page_of([EventRow.of(r) for r in conn.execute(query).mappings()], limit)


def _likely_many(conn: Connection, text: str) -> bool:
    return search.likely_many(conn, fsnames.escape(text), fsnames.readable(text), SEARCH_CAP)


def _after(created: Any, cursor: Cursor) -> ColumnElement[bool]:
    return and_(created <= cursor.created_at, or_(created < cursor.created_at, fe.c.id < cursor.id))


def _probe_newest(
    conn: Connection, flt: EventFilter, limit: int, cursor: Cursor | None
) -> Page | None:
    """The page of a keyword search when more than ``limit`` of the :data:`PROBE_NEWEST`
    newest events the other filters keep hold the keyword (then no older event can be on
    it), else None. Bounded: the subquery's LIMIT stops the walk whatever the keyword."""
    assert flt.search is not None
    terms, created = _terms(conn, replace(flt, search=None))
    if cursor is not None:
        terms.append(_after(created, cursor))
    newest = (
        select(fe)
        .where(*terms)
        .order_by(created.desc(), fe.c.id.desc())
        .limit(max(PROBE_NEWEST, limit + 1))
        .subquery("newest")
    )
    query = (
        select(newest)
        .where(_keyword_test(conn, flt.search, newest.c, correlated=True))
        .order_by(newest.c.created_at.desc(), newest.c.id.desc())
        .limit(limit + 1)
    )
    rows = [EventRow.of(r) for r in conn.execute(query).mappings()]
    return _page_of(rows, limit) if len(rows) > limit else None


def _page_of(rows: list[EventRow], limit: int) -> Page:
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
    """The oldest event still queued or processing, or None: per state, the smallest
    created_at (one probe at the start of the (state, created_at) index), then the row(s) at
    that time. ``ORDER BY created_at, id LIMIT ?`` let SQLite's planner, not knowing the
    limit, walk the whole (created_at, id) index instead when nothing is pending: 0.16 s on
    50,000 events, seconds on a million; ``state IN (…)`` did the same."""
    found = []
    for state in PENDING_STATES:
        first = conn.execute(select(func.min(fe.c.created_at)).where(fe.c.state == state)).scalar()
        if first is None:
            continue
        query = (
            select(fe.c.id, fe.c.state, fe.c.source, fe.c.relpath, fe.c.created_at)
            .where(fe.c.state == state, fe.c.created_at == first)
            .order_by(fe.c.id)
            .limit(1)
        )
        row = conn.execute(query).mappings().first()
        if row is not None:
            found.append(PendingEvent.of(row))
    return min(found, key=lambda p: (p.created_at, p.id), default=None)
