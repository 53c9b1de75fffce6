"""Read-only queries behind the API's ``summary``, ``sources`` and ``tree`` views, with their
facade :class:`OverviewStore`. Every query is bounded by a time window (on the indexed
``updated_at``/``finished_at``/``created_at`` columns) or by a limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, func, select

from filerelay.model import EventState, PipelineStatus
from filerelay.store import listing
from filerelay.store.access import Transactions, translated
from filerelay.store.db import as_utc
from filerelay.store.rows import PendingEvent
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines

FINISHED = (EventState.SUCCEEDED.value, EventState.FAILED.value)
FAILED_PIPELINES = (PipelineStatus.FAILED.value, PipelineStatus.COMPENSATION_FAILED.value)
#: At most this many failed pipelines are classified per summary.
MAX_FAILURES = 20_000


def finished_since(conn: Connection, since: datetime) -> list[tuple[datetime, datetime, str]]:
    """(created_at, updated_at, state) of the events that finished since ``since``.

    The state is filtered here, not in SQL: given ``state IN (…)`` SQLite's planner picks
    the (state, created_at) index and reads every finished event ever (10x slower on 50,000
    events) instead of the window on ``updated_at``."""
    query = select(fe.c.created_at, fe.c.updated_at, fe.c.state).where(fe.c.updated_at >= since)
    return [(r[0], r[1], r[2]) for r in conn.execute(query) if r[2] in FINISHED]


def finished_buckets(
    conn: Connection, since: datetime, bucket_s: int
) -> list[tuple[int, str, float]]:
    """(bucket number, state, latency ms) of each event that finished since ``since``: the
    bucket is ``epoch seconds // bucket_s`` of its finish; the latency from its record to its
    finish. Computed in SQL, so no timestamp is parsed per row in Python."""
    if conn.dialect.name == "sqlite":
        epoch: Any = func.cast(func.strftime("%s", fe.c.updated_at), Integer)
        bucket: Any = epoch / bucket_s
        latency: Any = (
            func.julianday(fe.c.updated_at) - func.julianday(fe.c.created_at)
        ) * 86_400_000.0
    else:
        bucket = func.floor(func.extract("epoch", fe.c.updated_at) / bucket_s)
        latency = func.extract("epoch", fe.c.updated_at - fe.c.created_at) * 1000.0
    query = select(bucket, fe.c.state, latency).where(fe.c.updated_at >= since)
    return [(int(b), s, float(ms or 0.0)) for b, s, ms in conn.execute(query) if s in FINISHED]


def failures_since(conn: Connection, since: datetime) -> list[tuple[str, str | None]]:
    """(route, error) of the pipelines that failed since ``since``."""
    query = (
        select(pipelines.c.route, pipelines.c.error)
        .where(pipelines.c.finished_at >= since, pipelines.c.status.in_(FAILED_PIPELINES))
        .limit(MAX_FAILURES)
    )
    return [(r[0], r[1]) for r in conn.execute(query)]


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
    def finished_since(self, since: datetime) -> list[tuple[datetime, datetime, str]]:
        """See :func:`finished_since`."""
        with self._read() as conn:
            return finished_since(conn, as_utc(since))

    @translated
    def finished_buckets(self, since: datetime, bucket_s: int) -> list[tuple[int, str, float]]:
        """See :func:`finished_buckets`."""
        with self._read() as conn:
            return finished_buckets(conn, as_utc(since), bucket_s)

    @translated
    def failures_since(self, since: datetime) -> list[tuple[str, str | None]]:
        """See :func:`failures_since`."""
        with self._read() as conn:
            return failures_since(conn, as_utc(since))

    @translated
    def counts_since(self, since: datetime) -> dict[str, int]:
        """Events created since ``since`` per state."""
        with self._read() as conn:
            return listing.count_by_state_since(conn, as_utc(since))

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
