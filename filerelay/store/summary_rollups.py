"""Minute, 10-minute and hour rollups of finished events: what the dashboard's ``summary``
reads.

:func:`record` runs in the transaction that moves an event to a final state (called from
:func:`filerelay.store.rollups.record_finish`, whose two call sites are the only places a
final state is written), so a count can neither miss nor double an event, and the current,
still-open minute is always up to date: the summary reads no event rows for its window.
The upsert adds to the row (``n = n + excluded.n``), so two workers finishing events in the
same minute both count (PostgreSQL locks the row until commit; SQLite has one writer); the
rows of one upsert are sorted, so two transactions take the row locks in the same order.

What one event finished at ``now`` adds, once per grain (60, 600 and 3600 s)::

    kind      key                          n   total
    state     its final state              1   0
    latency   latency bin upper bound (s)  1   latency (s)   (succeeded and failed)
    route     a failed route               1   0             (failed pipelines of its last run)
    error     error class of that failure  1   0

The latency is from the event's record (``created_at``) to its finish, in whole
milliseconds, binned on :data:`filerelay.buckets.LATENCY_BOUNDS` (1, 1.2, 1.5, 2, 2.5, 3, 4,
5, 6, 8 x 10^k s): a percentile read back is the upper bound of the bin holding it, at most
25 % above the true value. Counts are exact. Rows older than :data:`KEEP` are deleted by
``db prune`` (:func:`prune`); :func:`rebuild` recomputes them from the events (migration 0014,
``filerelay db rollup --rebuild``).
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from filerelay.buckets import LATENCY_BOUNDS
from filerelay.store.db import UTCDateTime
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines as pl
from filerelay.store.schema import summary_rollups as sr

MINUTE = 60
TEN_MINUTES = 600
HOUR = 3600
#: The row grains: a minute (the 1-hour window's series), ten minutes (the 24-hour one's),
#: an hour (the 7-day one's); a window's first, partial bucket is read from minute rows.
GRAINS = (MINUTE, TEN_MINUTES, HOUR)
#: How long the rows are kept: the longest summary window (7 days) and a day to spare.
KEEP = timedelta(days=8)
FINAL = ("succeeded", "failed", "vanished", "skipped")
TIMED = ("succeeded", "failed")
FAILED_PIPELINES = ("failed", "compensation_failed")
Cells = dict[tuple[str, str], list[float]]

_CLASS_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?::|$)")
_STEP_PREFIX = re.compile(r"^step [^:]*: ")


def error_class(error: str | None) -> str:
    """The error's class: the exception name it starts with (``ClientError: …``, after the
    pipeline's ``step NAME:`` prefix), ``other``, or ``unknown`` with no error text."""
    if not error:
        return "unknown"
    match = _CLASS_RE.match(_STEP_PREFIX.sub("", error.strip()))
    return match.group(1)[:255] if match else "other"


def epoch_s(at: datetime) -> int:
    """Whole epoch seconds of ``at`` (naive datetimes are UTC, as the store keeps them)."""
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() // 1)


def latency_bin(seconds: float) -> str:
    """The key of the latency bin holding ``seconds``: its upper bound, ``'inf'`` above."""
    i = bisect.bisect_left(LATENCY_BOUNDS, max(0.0, seconds))
    return f"{LATENCY_BOUNDS[i]:g}" if i < len(LATENCY_BOUNDS) else "inf"


def latency_s(created_at: datetime, finished_at: datetime) -> float:
    """Record-to-finish latency in seconds, to the millisecond (what SQL computes too)."""
    return round(max(0.0, (finished_at - created_at).total_seconds()), 3)


def cells(state: str, latency: float | None, failures: list[tuple[str, str | None]]) -> Cells:
    """What one finished event adds (see the module docstring)."""
    out: Cells = defaultdict(lambda: [0.0, 0.0])
    out[("state", state)][0] += 1
    if state in TIMED and latency is not None:
        cell = out[("latency", latency_bin(latency))]
        cell[0] += 1
        cell[1] += latency
    for route, error in failures:
        out[("route", route[:255])][0] += 1
        out[("error", error_class(error))][0] += 1
    return out


def record_many(conn: Connection, finished: list[tuple[str, str, datetime, datetime]]) -> None:
    """Add the events ``(id, state, created_at, finished_at)``, just finished, to the minute,
    10-minute and hour rows: one upsert of the summed cells."""
    failed = [eid for eid, state, _, _ in finished if state == "failed"]
    failures = _failures(conn, failed) if failed else {}
    per_second: dict[int, Cells] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for eid, state, created_at, now in finished:
        latency = latency_s(created_at, now) if state in TIMED else None
        into = per_second[epoch_s(now)]
        for cell, (n, total) in cells(state, latency, failures.get(eid, [])).items():
            into[cell][0] += n
            into[cell][1] += total
    upsert_many(conn, per_second)


def _failures(conn: Connection, event_ids: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    """Per event: (route, error) of the failed pipelines of its latest run."""
    rows = conn.execute(
        select(pl.c.event_id, pl.c.run, pl.c.route, pl.c.status, pl.c.error).where(
            pl.c.event_id.in_(event_ids)
        )
    ).all()
    latest: dict[str, int] = {}
    for r in rows:
        latest[r.event_id] = max(latest.get(r.event_id, r.run), r.run)
    out: dict[str, list[tuple[str, str | None]]] = {}
    for r in rows:
        if r.run == latest[r.event_id] and r.status in FAILED_PIPELINES:
            out.setdefault(r.event_id, []).append((str(r.route), r.error))
    return out


_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n, …``, built once per dialect."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        base = (pg_insert if dialect == "postgresql" else sqlite_insert)(sr)
        stmt = base.on_conflict_do_update(
            index_elements=["grain", "at_s", "kind", "key"],
            set_={"n": sr.c.n + base.excluded.n, "total": sr.c.total + base.excluded.total},
        )
        _UPSERTS[dialect] = stmt
    return stmt


def upsert(conn: Connection, at_s: int, agg: Cells) -> None:
    """Add ``agg`` to the minute, 10 minutes and hour holding ``at_s``."""
    upsert_many(conn, {at_s: agg})


def upsert_many(conn: Connection, per_second: dict[int, Cells]) -> None:
    """Add each ``agg`` to the minute, 10 minutes and hour holding its second: one statement,
    each row once (summed), rows sorted (two writers take the row locks in the same order)."""
    summed: dict[tuple[int, int, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for at_s, agg in per_second.items():
        for grain in GRAINS:
            for (kind, key), (n, total) in agg.items():
                cell = summed[(grain, at_s - at_s % grain, kind, key)]
                cell[0] += n
                cell[1] += total
    rows = [
        {"grain": grain, "at_s": at, "kind": kind, "key": key, "n": int(n), "total": float(total)}
        for (grain, at, kind, key), (n, total) in sorted(summed.items())
    ]
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name), rows)


def prune(conn: Connection, now: datetime) -> int:
    """Delete the rows older than :data:`KEEP`; how many."""
    cutoff = epoch_s(now - KEEP)
    return int(conn.execute(delete(sr).where(sr.c.grain.in_(GRAINS), sr.c.at_s < cutoff)).rowcount)


def _sql(dialect: str) -> tuple[str, str]:
    """(epoch seconds of updated_at, latency seconds to the ms) as SQL for ``dialect``."""
    if dialect == "sqlite":
        return (
            "CAST(strftime('%s', updated_at) AS INTEGER)",
            "round((julianday(updated_at) - julianday(created_at)) * 86400.0, 3)",
        )
    return (
        "CAST(floor(extract(epoch FROM updated_at)) AS BIGINT)",
        "round(CAST(extract(epoch FROM updated_at - created_at) AS NUMERIC), 3)",
    )


def _bin_case(latency: str) -> str:
    whens = " ".join(f"WHEN {latency} <= {b!r} THEN '{b:g}'" for b in LATENCY_BOUNDS)
    return f"CASE {whens} ELSE 'inf' END"


_SINCE = bindparam("since", type_=UTCDateTime())


def rebuild(conn: Connection, now: datetime | None = None) -> int:
    """Recompute the rows of the last :data:`KEEP` from the finished events in the store (by
    SQL, grouped per bucket); how many events were counted. Their pipelines' failures are
    classified in Python (one row per failed event)."""
    now = now or datetime.now(UTC)
    start = epoch_s(now - KEEP)
    start -= start % HOUR
    since = datetime.fromtimestamp(start, UTC)
    conn.execute(delete(sr).where(sr.c.at_s >= start))
    epoch, latency = _sql(conn.dialect.name)
    finals = ", ".join(f"'{s}'" for s in FINAL)
    timed = ", ".join(f"'{s}'" for s in TIMED)
    counted = 0
    for grain in GRAINS:
        bucket = f"({epoch} / {grain}) * {grain}"
        conn.execute(
            text(
                f"INSERT INTO summary_rollups (grain, at_s, kind, key, n, total) "
                f"SELECT {grain}, b, 'state', state, count(*), 0 FROM "
                f"(SELECT {bucket} AS b, state FROM file_events "
                f"WHERE updated_at >= :since AND state IN ({finals})) AS f GROUP BY b, state"
            ).bindparams(_SINCE),
            {"since": since},
        )
        conn.execute(
            text(
                f"INSERT INTO summary_rollups (grain, at_s, kind, key, n, total) "
                f"SELECT {grain}, b, 'latency', k, count(*), sum(l) FROM "
                f"(SELECT {bucket} AS b, {_bin_case('l0')} AS k, l0 AS l FROM "
                f"(SELECT updated_at, {latency} AS l0 FROM file_events "
                f"WHERE updated_at >= :since AND state IN ({timed})) AS t) AS f GROUP BY b, k"
            ).bindparams(_SINCE),
            {"since": since},
        )
    counted = int(
        conn.execute(
            text(
                f"SELECT count(*) FROM file_events WHERE updated_at >= :since "
                f"AND state IN ({finals})"
            ).bindparams(_SINCE),
            {"since": since},
        ).scalar()
        or 0
    )
    _rebuild_failures(conn, since)
    return counted


def _rebuild_failures(conn: Connection, since: datetime) -> None:
    failed = conn.execute(
        select(fe.c.id, fe.c.updated_at).where(fe.c.updated_at >= since, fe.c.state == "failed")
    ).all()
    for i in range(0, len(failed), 500):
        chunk = failed[i : i + 500]
        found = _failures(conn, [r.id for r in chunk])
        per_minute: dict[int, Cells] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
        for r in chunk:
            at = epoch_s(r.updated_at)
            for route, error in found.get(r.id, []):
                minute = per_minute[at - at % MINUTE]
                minute[("route", route[:255])][0] += 1
                minute[("error", error_class(error))][0] += 1
        for at_s, agg in per_minute.items():
            upsert(conn, at_s, agg)
