"""``RollupReader``: the queries reports, SLOs and anomaly rules run on the rollups (and the
few on raw rows: stuck files, and the short windows of SLO burn rates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from filerelay.model import EventState
from filerelay.store.access import Transactions, translated
from filerelay.store.schema import file_events as fe
from filerelay.store.schema import pipelines as pl
from filerelay.store.schema import rollups as ru

STUCK_STATES = (EventState.QUEUED.value, EventState.PROCESSING.value)


@dataclass(frozen=True)
class Filters:
    """Which rollup rows a figure counts: empty lists mean every source, route or host."""

    sources: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def apply(self, query: Select[Any], route_level: bool | None) -> Select[Any]:
        """``query`` on ``rollups`` narrowed to these filters; event-level rows (route '')
        unless ``route_level`` or a route is asked for; both with ``route_level`` None."""
        if self.sources:
            query = query.where(ru.c.source.in_(self.sources))
        if self.hosts:
            query = query.where(ru.c.host.in_(self.hosts))
        if self.routes:
            return query.where(ru.c.route.in_(self.routes))
        if route_level is None:
            return query
        return query.where(ru.c.route != "") if route_level else query.where(ru.c.route == "")


Cell = tuple[str, str, str, str, int, float]  # source, route, kind, key, n, total


class RollupReader(Transactions):
    """Read-only queries on the rollups of one store."""

    @translated
    def totals(
        self, since: datetime, until: datetime, flt: Filters, route_level: bool | None
    ) -> list[Cell]:
        """``(source, route, kind, key, n, total)`` summed over ``[since, until)``."""
        query = select(
            ru.c.source, ru.c.route, ru.c.kind, ru.c.key, func.sum(ru.c.n), func.sum(ru.c.total)
        ).where(ru.c.hour >= since, ru.c.hour < until)
        query = flt.apply(query, route_level).group_by(ru.c.source, ru.c.route, ru.c.kind, ru.c.key)
        with self._read() as conn:
            return [
                (str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), float(r[5]))
                for r in conn.execute(query)
            ]

    @translated
    def daily(
        self, since: datetime, until: datetime, flt: Filters, kinds: list[str], route_level: bool
    ) -> list[tuple[str, str, int, float]]:
        """``(day 'YYYY-MM-DD', key, n, total)`` of ``kinds`` per UTC day of ``[since, until)``."""
        with self._read() as conn:
            if conn.dialect.name == "postgresql":
                day: Any = func.date_trunc("day", ru.c.hour)
            else:  # SQLite keeps the naive UTC text: its date() is the day
                day = func.date(ru.c.hour)
            query = select(day, ru.c.key, func.sum(ru.c.n), func.sum(ru.c.total)).where(
                ru.c.kind.in_(kinds), ru.c.hour >= since, ru.c.hour < until
            )
            query = flt.apply(query, route_level).group_by(day, ru.c.key)
            return [
                (str(d)[:10], str(key), int(n), float(t)) for d, key, n, t in conn.execute(query)
            ]

    @translated
    def at_hours(
        self, hours: list[datetime], kinds: list[str], by: str
    ) -> list[tuple[datetime, str, str, int, float]]:
        """``(hour, group, key, n, total)`` of ``kinds`` at exactly these hours, per source or
        route (``by``) or for everything (``all``): the anomaly rules' one query."""
        col = {"source": ru.c.source, "route": ru.c.route}.get(by)
        keys: list[Any] = [ru.c.hour, ru.c.key] + ([col] if col is not None else [])
        query = select(*keys, func.sum(ru.c.n), func.sum(ru.c.total)).where(
            ru.c.hour.in_(hours), ru.c.kind.in_(kinds)
        )
        query = query.where(ru.c.route != "") if by == "route" else query.where(ru.c.route == "")
        with self._read() as conn:
            return [
                (r[0], str(r[2]) if col is not None else "all", r[1], int(r[-2]), float(r[-1]))
                for r in conn.execute(query.group_by(*keys))
            ]

    @translated
    def first_hour(self) -> datetime | None:
        """The oldest hour the rollups hold."""
        with self._read() as conn:
            return conn.execute(select(func.min(ru.c.hour))).scalar()

    @translated
    def stuck(self, older_than: datetime, flt: Filters) -> list[dict[str, Any]]:
        """Events still queued or processing since before ``older_than`` (oldest first, 50)."""
        query = select(fe.c.id, fe.c.source, fe.c.relpath, fe.c.state, fe.c.created_at).where(
            fe.c.state.in_(STUCK_STATES), fe.c.created_at < older_than
        )
        if flt.sources:
            query = query.where(fe.c.source.in_(flt.sources))
        if flt.hosts:
            query = query.where(fe.c.host.in_(flt.hosts))
        with self._read() as conn:
            rows = conn.execute(query.order_by(fe.c.created_at).limit(50)).mappings()
            return [dict(r) for r in rows]

    @translated
    def recent_outcomes(
        self, since: datetime, until: datetime, source: str | None, route: str | None
    ) -> list[tuple[str, float]]:
        """Raw ``(status, latency_s)`` of events (or a route's pipelines) finished in
        ``[since, until)``: the short windows of SLO burn rates."""
        if route is not None:
            query = (
                select(pl.c.status, pl.c.finished_at, fe.c.detected_at)
                .join(fe, pl.c.event_id == fe.c.id)
                .where(pl.c.route == route, pl.c.finished_at >= since, pl.c.finished_at < until)
            )
        else:
            query = select(fe.c.state, fe.c.updated_at, fe.c.detected_at).where(
                fe.c.updated_at >= since, fe.c.updated_at < until
            )
        if source is not None:
            query = query.where(fe.c.source == source)
        with self._read() as conn:
            return [
                (str(s), max(0.0, (done - detected).total_seconds()))
                for s, done, detected in conn.execute(query)
                if done is not None
            ]
