"""Read-only queries behind the API's ``summary``, ``sources`` and ``tree`` views, with their
facade :class:`OverviewStore`. Every query is bounded by a time window (on the indexed
``updated_at``/``finished_at``/``created_at`` columns or the summary rollups' keys) or by a
limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from filerelay.model import EventState
from filerelay.store import listing, summary_rollups
from filerelay.store.access import Transactions, translated
from filerelay.store.db import as_utc
from filerelay.store.rows import PendingEvent
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines

#: States an event holds before it finishes (counted live, by index, in the summary).
OPEN_STATES = tuple(
    s.value
    for s in (EventState.DETECTED, EventState.QUEUED, EventState.PROCESSING, EventState.DUPLICATE)
)
Cell = tuple[int, str, str, int, float]  # (bucket, kind, key, n, total)

_ROLLUP_CELLS = text(
    "SELECT at_s / :bucket AS b, kind, key, sum(n), sum(total) FROM summary_rollups "
    "WHERE grain = :grain AND at_s >= :start AND at_s < :end GROUP BY 1, 2, 3"
)


def rollup_cells(conn: Connection, since_s: int, until_s: int, bucket_s: int) -> list[Cell]:
    """(bucket number, kind, key, n, total) of the summary rollups of the events finished from
    ``since_s`` (a whole minute) to ``until_s`` (epoch seconds), summed per ``bucket_s``
    bucket (number = epoch // bucket_s): the whole buckets from the rows of the largest grain
    that divides a bucket, the first, partial one from minute rows. The current minute's
    rows are up to date (kept as events finish), so no event row is read."""
    minute = summary_rollups.MINUTE
    grain = max(g for g in summary_rollups.GRAINS if bucket_s % g == 0)
    end = until_s - until_s % minute + minute
    first_whole = min(end, -(-since_s // grain) * grain)
    out: list[Cell] = []
    for g, start, stop in ((minute, since_s, first_whole), (grain, first_whole, end)):
        if start >= stop:
            continue
        params = {"bucket": bucket_s, "grain": g, "start": start, "end": stop}
        for b, kind, key, n, total in conn.execute(_ROLLUP_CELLS, params):
            out.append((int(b), str(kind), str(key), int(n), float(total or 0.0)))
    return out


def open_counts(conn: Connection, since: datetime) -> dict[str, int]:
    """Events created since ``since`` that have not finished, per state: one count per state
    on the (state, created_at) index."""
    out = {}
    for state in OPEN_STATES:
        query = select(func.count()).where(fe.c.state == state, fe.c.created_at >= since)
        n = int(conn.execute(query).scalar() or 0)
        if n:
            out[state] = n
    return out


def stuck(conn: Connection, before: datetime) -> int:
    """How many events have been queued or processing since before ``before`` (one count
    per state, each on the (state, created_at) index: with ``state IN (…)`` SQLite walked
    the created_at index over every older event)."""
    total = 0
    for state in listing.PENDING_STATES:
        query = select(func.count()).where(fe.c.state == state, fe.c.created_at < before)
        total += int(conn.execute(query).scalar() or 0)
    return total


def source_counts(conn: Connection, since: datetime) -> dict[str, dict[str, int]]:
    """Per source: events created since ``since`` by state."""
    query = (
        select(fe.c.source, fe.c.state, func.count())
        .where(fe.c.created_at >= since)
        .group_by(fe.c.source, fe.c.state)
    )
    out: dict[str, dict[str, int]] = {}
    for source, state, n in conn.execute(query):
        out.setdefault(source, {})[state] = int(n)
    return out


def last_files(conn: Connection, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per source: its newest event (id, relpath, state, created_at)."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        query = (
            select(fe.c.id, fe.c.relpath, fe.c.state, fe.c.created_at)
            .where(fe.c.source == name)
            .order_by(fe.c.created_at.desc())
            .limit(1)
        )
        row = conn.execute(query).mappings().first()
        if row is not None:
            out[name] = dict(row)
    return out


def latest_under(conn: Connection, source: str, prefix: str, limit: int) -> list[dict[str, Any]]:
    """The newest events of files under ``prefix`` (a relpath folder, '' for the root)."""
    terms = [fe.c.source == source]
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        terms.append(fe.c.relpath.like(escaped + "/%", escape="\\"))
    query = (
        select(fe.c.id, fe.c.relpath, fe.c.state, fe.c.created_at)
        .where(*terms)
        .order_by(fe.c.created_at.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def outcomes_since(
    conn: Connection, since: datetime, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """Events and pipelines that finished at or after ``since`` (oldest first)."""
    events_q = (
        select(fe.c.id, fe.c.state, fe.c.source, fe.c.relpath, fe.c.reason, fe.c.updated_at)
        .where(fe.c.updated_at >= since, fe.c.state.in_(FINISHED_STATES))
        .order_by(fe.c.updated_at)
        .limit(limit)
    )
    pipes_q = (
        select(
            pipelines.c.id,
            pipelines.c.event_id,
            pipelines.c.route,
            pipelines.c.status,
            pipelines.c.error,
            pipelines.c.finished_at,
        )
        .where(pipelines.c.finished_at >= since)
        .order_by(pipelines.c.finished_at)
        .limit(limit)
    )
    return {
        "event": [dict(r) for r in conn.execute(events_q).mappings()],
        "pipeline": [dict(r) for r in conn.execute(pipes_q).mappings()],
    }


FINISHED_STATES = ("succeeded", "failed", "duplicate", "vanished", "skipped")


class OverviewStore(Transactions):
    """The read-only views of the API (summary, sources, tree)."""

    @translated
    def rollup_cells(self, since_s: int, until_s: int, bucket_s: int) -> list[Cell]:
        """See :func:`rollup_cells`."""
        with self._read() as conn:
            return rollup_cells(conn, since_s, until_s, bucket_s)

    @translated
    def open_counts(self, since: datetime) -> dict[str, int]:
        """See :func:`open_counts`."""
        with self._read() as conn:
            return open_counts(conn, as_utc(since))

    @translated
    def stuck(self, before: datetime) -> tuple[int, PendingEvent | None]:
        """Events pending since before ``before``, and the oldest pending event."""
        with self._read() as conn:
            return stuck(conn, as_utc(before)), listing.oldest_pending(conn)

    @translated
    def source_counts(self, since: datetime) -> dict[str, dict[str, int]]:
        """See :func:`source_counts`."""
        with self._read() as conn:
            return source_counts(conn, as_utc(since))

    @translated
    def last_files(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """See :func:`last_files`."""
        with self._read() as conn:
            return last_files(conn, names)

    @translated
    def latest_under(self, source: str, prefix: str, limit: int) -> list[dict[str, Any]]:
        """See :func:`latest_under`."""
        with self._read() as conn:
            return latest_under(conn, source, prefix, limit)

    @translated
    def outcomes_since(self, since: datetime, limit: int = 500) -> dict[str, list[dict[str, Any]]]:
        """See :func:`outcomes_since`."""
        with self._read() as conn:
            return outcomes_since(conn, as_utc(since), limit)
