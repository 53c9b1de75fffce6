"""Hourly rollups: what a finished event adds to the ``rollups`` table.

:func:`record_finish` runs in the transaction that moves an event to a final state (the one
call site is :func:`filerelay.store.events.transition`), so the aggregates can never miss or
double an event; :func:`rebuild` recomputes them from the events still in the store
(``filerelay db rollup --rebuild``, which also rebuilds the summary's minute and hour rows).
Reports, SLOs and anomaly rules read only these rows,
so they stay fast on a big store and survive ``db prune``.

What one finished event adds (``route`` '' = the event itself, else one of its routes)::

    kind         key                       n        total
    outcome      succeeded|failed|...      1        bytes          (event and per route)
    size         upper bound (bytes, 4^k)  1        bytes          (event)
    latency      upper bound (seconds)     1        seconds        (succeeded; event, route)
    error        error class               1        0              (failed; event, route)
    step:<act>   upper bound (seconds)     1        seconds        (succeeded main steps)
    retries      ''                        retries  0              (per route)
    compensated  pipeline status           1        0              (routes that compensated)
    s3           bucket/first key segment  1        bytes          (uploaded objects)

Latencies fall in fixed "nice" buckets (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k s), so a
percentile read back is the upper bound of the bucket holding it (at most 25 % above), and an
SLO's latency limit is one of these bounds exactly.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from filerelay.buckets import LATENCY_BOUNDS
from filerelay.model import EventState, PipelineStatus, StepStatus
from filerelay.store import summary_rollups
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines as pl
from filerelay.store.schema import rollups
from filerelay.store.schema import steps as st

#: Event states that end an event (and add it to the rollups).
FINAL_STATES = frozenset(
    s.value
    for s in (EventState.SUCCEEDED, EventState.FAILED, EventState.VANISHED, EventState.SKIPPED)
)
Key = tuple[str, str, str]  # (route, kind, key)


def hour_of(at: datetime) -> datetime:
    """The start of the hour holding ``at``."""
    return at.replace(minute=0, second=0, microsecond=0)


def latency_bucket(seconds: float) -> str:
    """The key of the latency bucket holding ``seconds``: its upper bound, ``'inf'`` above."""
    i = bisect.bisect_left(LATENCY_BOUNDS, max(0.0, seconds))
    return f"{LATENCY_BOUNDS[i]:g}" if i < len(LATENCY_BOUNDS) else "inf"


def size_bucket(size: int) -> str:
    """The key of the size bucket holding ``size``: the power of 4 above it (bytes)."""
    bound = 1
    while bound <= size:
        bound *= 4
    return str(bound)


_NOISE = (
    (re.compile(r"[a-z]+://\S+", re.I), "<url>"),
    (re.compile(r"(?<![^\s'\"(=])/\S+"), "<path>"),  # a path after a space, quote, ( or =
    (re.compile(r"\b[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"\b\d{4,}\b"), "<n>"),
)


def error_class(reason: str | None) -> str:
    """A short class of an error message: URLs, paths, ids and long numbers blanked out."""
    text = (reason or "unknown").strip().splitlines()[0] if reason and reason.strip() else "unknown"
    for pattern, repl in _NOISE:
        text = pattern.sub(repl, text)
    return text[:120]


#: ``conn.info`` key of the finishes held by :func:`deferred` until its transaction's end.
_HELD = "filerelay.rollups.held"
Finish = tuple[str, str, datetime]  # (event id, final state, when)


@contextmanager
def deferred(conn: Connection) -> Iterator[None]:
    """Hold the finishes recorded in ``conn`` meanwhile and add them all at the end, still in
    the same transaction (a store write transaction is wrapped in this): a batch that ends
    many events reads their rows in three statements and adds to each rollup row once, not
    per event. Nested, the outermost adds them; on an error nothing is added (the
    transaction rolls back anyway)."""
    if _HELD in conn.info:
        yield
        return
    held: list[Finish] = []
    conn.info[_HELD] = held
    try:
        yield
        del conn.info[_HELD]
        record_finishes(conn, held)
    finally:
        conn.info.pop(_HELD, None)


def record_finish(conn: Connection, event_id: str, state: str, now: datetime) -> None:
    """Add the event, just moved to the final ``state`` at ``now``, to the hourly rollups
    and to the summary's minute and hour rows (:mod:`filerelay.store.summary_rollups`) — at
    the end of the transaction when :func:`deferred` holds them, at once otherwise."""
    held = conn.info.get(_HELD)
    if held is not None:
        held.append((event_id, state, now))
    else:
        record_finishes(conn, [(event_id, state, now)])


def record_finishes(conn: Connection, finished: Sequence[Finish]) -> None:
    """:func:`record_finish` for several events: one read of their rows, their pipelines
    and steps, one upsert per table of the summed figures (rows sorted: the lock order)."""
    found = _record_hourly(conn, finished)
    ended = [(e, state, found[e].created_at, now) for e, state, now in finished if e in found]
    summary_rollups.record_many(conn, ended)


def _record_hourly(conn: Connection, finished: Sequence[Finish]) -> dict[str, Any]:
    """Add ``finished`` to the hourly rows; the event rows found, by id."""
    if not finished:
        return {}
    ids = sorted({eid for eid, _, _ in finished})
    found = {
        r.id: r
        for r in conn.execute(
            select(
                fe.c.id, fe.c.source, fe.c.host, fe.c.size, fe.c.detected_at, fe.c.reason,
                fe.c.created_at,
            ).where(fe.c.id.in_(ids))
        )
    }  # fmt: skip
    runs = _latest_runs(conn, ids)
    step_rows = _steps_of(conn, [p for mine in runs.values() for p in mine])
    per_row: dict[tuple[datetime, str, str], dict[Key, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0, 0.0])
    )
    for event_id, state, now in finished:
        event = found.get(event_id)
        if event is None:
            continue
        agg = per_row[(hour_of(now), str(event.source), str(event.host))]
        _figures(agg, event, state, now, runs.get(event_id, {}), step_rows)
    upsert_many(conn, per_row)
    return found


def _figures(
    agg: dict[Key, list[float]],
    event: Any,
    state: str,
    now: datetime,
    mine: dict[int, Any],
    step_rows: dict[int, list[Any]],
) -> None:
    """Add one finished event's figures to ``agg``: ``mine`` its latest run's pipelines by
    id, ``step_rows`` their steps."""
    size = int(event.size)
    _add(agg, ("", "outcome", state), 1, size)
    _add(agg, ("", "size", size_bucket(size)), 1, size)
    if state == EventState.SUCCEEDED:
        latency = max(0.0, (now - event.detected_at).total_seconds())
        _add(agg, ("", "latency", latency_bucket(latency)), 1, latency)
    elif state == EventState.FAILED:
        _add(agg, ("", "error", error_class(event.reason)), 1, 0)
    for pid, r in mine.items():
        _add(agg, (r.route, "outcome", str(r.status)), 1, size)
        if r.status == PipelineStatus.SUCCEEDED and r.finished_at is not None:
            latency = max(0.0, (r.finished_at - event.detected_at).total_seconds())
            _add(agg, (r.route, "latency", latency_bucket(latency)), 1, latency)
        elif r.status != PipelineStatus.SUCCEEDED:
            _add(agg, (r.route, "error", error_class(r.error)), 1, 0)
        for s in step_rows.get(pid, []):
            _step(agg, r.route, s, size)


def _latest_runs(conn: Connection, event_ids: list[str]) -> dict[str, dict[int, Any]]:
    """Per event: the pipelines of its latest run, by id."""
    rows = conn.execute(
        select(pl.c.id, pl.c.event_id, pl.c.route, pl.c.run, pl.c.status, pl.c.error,
               pl.c.finished_at).where(pl.c.event_id.in_(event_ids))
    ).all()  # fmt: skip
    latest: dict[str, int] = {}
    for r in rows:
        latest[r.event_id] = max(latest.get(r.event_id, r.run), r.run)
    out: dict[str, dict[int, Any]] = {}
    for r in rows:
        if r.run == latest[r.event_id]:
            out.setdefault(r.event_id, {})[r.id] = r
    return out


def _steps_of(conn: Connection, pipeline_ids: list[int]) -> dict[int, list[Any]]:
    """The steps of these pipelines, by pipeline id."""
    out: dict[int, list[Any]] = {}
    if not pipeline_ids:
        return out
    query = select(
        st.c.pipeline_id, st.c.action, st.c.status, st.c.attempts, st.c.duration_ms,
        st.c.phase, st.c.result,
    ).where(st.c.pipeline_id.in_(sorted(pipeline_ids)))  # fmt: skip
    for s in conn.execute(query):
        out.setdefault(s.pipeline_id, []).append(s)
    return out


def _step(agg: dict[Key, list[float]], route: str, s: Any, size: int) -> None:
    if s.phase != "main":
        _add(agg, (route, "compensated", s.phase), 1, 0)
        return
    if s.attempts and s.attempts > 1:
        _add(agg, (route, "retries", ""), s.attempts - 1, 0)
    if s.status != StepStatus.SUCCEEDED:
        return
    if s.duration_ms is not None:
        seconds = s.duration_ms / 1000
        _add(agg, (route, f"step:{s.action}"[:64], latency_bucket(seconds)), 1, seconds)
    result = s.result if isinstance(s.result, dict) else {}
    if s.action == "s3" and result.get("bucket") and result.get("uploaded", True):
        prefix = str(result.get("key", "")).split("/", 1)[0]
        _add(agg, (route, "s3", f"{result['bucket']}/{prefix}"[:255]), 1, size)


def _add(agg: dict[Key, list[float]], key: Key, n: float, total: float) -> None:
    cell = agg[key]
    cell[0] += n
    cell[1] += total


def _upsert_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n, …`` for one row, built once
    per dialect (a statement built per call is compiled per call: 20 ms a file on SQLite)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        base = insert(rollups)
        stmt = base.on_conflict_do_update(
            index_elements=["hour", "source", "route", "host", "kind", "key"],
            set_={
                "n": rollups.c.n + base.excluded.n,
                "total": rollups.c.total + base.excluded.total,
            },
        )
        _UPSERTS[dialect] = stmt
    return stmt


_UPSERTS: dict[str, Any] = {}


def upsert_many(
    conn: Connection, per_row: dict[tuple[datetime, str, str], dict[Key, list[float]]]
) -> None:
    """Add each ``agg`` to the rollup rows of its (hour, source, host): one upsert, its rows
    sorted by their key (two writers take the row locks in the same order)."""
    rows = sorted(
        (
            {"hour": hour, "source": source[:255], "route": route[:255], "host": host[:255],
             "kind": kind, "key": key[:255], "n": int(n), "total": float(total)}
            for (hour, source, host), agg in per_row.items()
            for (route, kind, key), (n, total) in agg.items()
        ),
        key=lambda r: (r["hour"], r["source"], r["route"], r["host"], r["kind"], r["key"]),
    )  # fmt: skip
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name), rows)


def rebuild(conn: Connection, since: datetime | None = None) -> int:
    """Recompute the rollups (from ``since``'s hour on) from the finished events in the store.

    Rows of hours whose events were pruned are kept when ``since`` is later than them; a
    rebuild from the start replaces every row. Returns how many events were added.
    """
    start = hour_of(since) if since is not None else None
    cleared = delete(rollups) if start is None else delete(rollups).where(rollups.c.hour >= start)
    conn.execute(cleared)
    query = select(fe.c.id, fe.c.state, fe.c.updated_at).where(fe.c.state.in_(sorted(FINAL_STATES)))
    if start is not None:
        query = query.where(fe.c.updated_at >= start)
    done = 0
    rows = conn.execute(query).all()
    for i in range(0, len(rows), 500):
        chunk = [(r.id, r.state, r.updated_at) for r in rows[i : i + 500]]
        done += len(_record_hourly(conn, chunk))
    summary_rollups.rebuild(conn)  # the summary's last 8 days, by SQL
    return done
