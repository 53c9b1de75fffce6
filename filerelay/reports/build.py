"""A report over a period, as a JSON-ready dict: files and bytes per source, route and day,
sizes, throughput, latency percentiles, failures and their classes, retries, compensations,
stuck files — each figure beside the previous period's — plus capacity and SLOs.

Everything but the stuck files comes from the hourly rollups, so a period is cut at whole
hours (``since`` rounded down, ``until`` up).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from filerelay.config.reports import ReportsConfig, SloConfig
from filerelay.reports import capacity, slo
from filerelay.reports.data import Cell, Filters, RollupReader
from filerelay.reports.stats import change, histogram_percentile
from filerelay.store.rollups import hour_of

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
PERCENTILES = (50, 95, 99)
FAILED = ("failed", "compensation_failed")
#: A file queued or processing longer than this is listed as stuck.
STUCK_AFTER = timedelta(hours=1)
TOP_ERRORS = 10


@dataclass(frozen=True)
class Period:
    """``[since, until)``, whole hours."""

    since: datetime
    until: datetime

    @classmethod
    def of(cls, since: datetime, until: datetime) -> Period:
        end = hour_of(until)
        return cls(hour_of(since), end if end == until else end + timedelta(hours=1))

    @property
    def previous(self) -> Period:
        return Period(self.since - (self.until - self.since), self.since)

    @property
    def hours(self) -> float:
        return (self.until - self.since).total_seconds() / 3600


def period_for(
    name: str | None, since: datetime | None, until: datetime | None, now: datetime
) -> Period:
    """The period of ``--period`` or ``--since/--until`` (default: the last day)."""
    end = until or now
    start = since or end - PERIODS[name or "day"]
    return Period.of(start, end)


def figures(cells: list[Cell]) -> dict[str, Any]:
    """The headline figures of a set of rollup cells."""
    out: dict[str, int] = defaultdict(int)
    volume = 0.0
    lat: dict[str, int] = defaultdict(int)
    for _src, _route, kind, key, n, total in cells:
        if kind == "outcome":
            out[key] += n
            volume += total
        elif kind == "latency":
            lat[key] += n
    files = sum(out.values())
    failed = sum(out[k] for k in FAILED)
    decided = out["succeeded"] + failed
    return {
        "files": files,
        "bytes": int(volume),
        "succeeded": out["succeeded"],
        "failed": failed,
        "failure_rate": failed / decided if decided else None,
        "retries": sum(c[4] for c in cells if c[2] == "retries"),
        "compensations": sum(c[4] for c in cells if c[2] == "compensated" and c[3] == "undo"),
        "latency": {f"p{p}": histogram_percentile(lat, p) for p in PERCENTILES},
    }


def _compared(cur: dict[str, Any], prev: dict[str, Any], hours: float) -> dict[str, Any]:
    keys = ("files", "bytes", "succeeded", "failed", "failure_rate", "retries", "compensations")
    out = {
        k: {"current": cur[k], "previous": prev[k], "change": change(cur[k], prev[k])} for k in keys
    }
    out["files_per_hour"] = {
        "current": cur["files"] / hours, "previous": prev["files"] / hours,
        "change": change(cur["files"], prev["files"]),
    }  # fmt: skip
    out["bytes_per_second"] = {
        "current": cur["bytes"] / hours / 3600, "previous": prev["bytes"] / hours / 3600,
        "change": change(cur["bytes"], prev["bytes"]),
    }  # fmt: skip
    return out


def _grouped(cells: list[Cell], col: int) -> list[dict[str, Any]]:
    groups: dict[str, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[str(c[col])].append(c)
    return [{"name": name, **_brief(figures(rows))} for name, rows in sorted(groups.items())]


def _brief(f: dict[str, Any]) -> dict[str, Any]:
    latency: dict[str, Any] = f["latency"]
    return {k: f[k] for k in ("files", "bytes", "failed", "failure_rate")} | latency


def _latency(cur: list[Cell], prev: list[Cell]) -> dict[str, Any]:
    def actions(cells: list[Cell]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for _s, _r, kind, key, n, _t in cells:
            if kind.startswith("step:"):
                out[kind[5:]][key] += n
        return out

    now_a, then_a = actions(cur), actions(prev)
    return {
        name: {f"p{p}": histogram_percentile(now_a[name], p) for p in PERCENTILES}
        | {
            "previous": {
                f"p{p}": histogram_percentile(then_a.get(name, {}), p) for p in PERCENTILES
            }
        }
        for name in sorted(now_a)
    }


def _sizes(cells: list[Cell]) -> list[dict[str, Any]]:
    buckets: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    for _s, _r, kind, key, n, total in cells:
        if kind == "size":
            buckets[int(key)][0] += n
            buckets[int(key)][1] += total
    return [
        {"below_bytes": b, "label": size_label(b), "files": int(v[0]), "bytes": int(v[1])}
        for b, v in sorted(buckets.items())
    ]


def size_label(upper: int) -> str:
    """``4096`` → ``1-4 KiB``: a size bucket for people."""
    return f"{human_bytes(upper // 4)}-{human_bytes(upper)}" if upper > 1 else "0 B"


def human_bytes(n: float) -> str:
    """``1536`` → ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def _errors(cells: list[Cell], prev: list[Cell]) -> list[dict[str, Any]]:
    def count(rows: list[Cell]) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for _s, _r, kind, key, n, _t in rows:
            if kind == "error":
                out[key] += n
        return out

    now_c, then_c = count(cells), count(prev)
    top = sorted(now_c.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ERRORS]
    return [{"error": k, "count": n, "previous": then_c.get(k, 0)} for k, n in top]


def _days(reader: RollupReader, period: Period, flt: Filters) -> list[dict[str, Any]]:
    rows = reader.daily(period.since, period.until, flt, ["outcome"], bool(flt.routes))
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for day, key, n, total in rows:
        cell = days[day]
        cell[0] += n
        cell[1] += int(total)
        cell[2] += n if key in FAILED else 0
    return [
        {"day": d, "files": v[0], "bytes": v[1], "failed": v[2]} for d, v in sorted(days.items())
    ]


def _cells(reader: RollupReader, period: Period, flt: Filters) -> tuple[list[Cell], list[Cell]]:
    """``(the report's cells, the route-level cells)`` of ``period``: one query."""
    if flt.routes:
        cells = reader.totals(period.since, period.until, flt, True)
        return cells, cells
    both = reader.totals(period.since, period.until, flt, None)
    return [c for c in both if c[1] == ""], [c for c in both if c[1] != ""]


def build_report(
    reader: RollupReader,
    period: Period,
    flt: Filters,
    config: ReportsConfig,
    slos: list[SloConfig],
    now: datetime,
) -> dict[str, Any]:
    """The report of ``period`` (beside the previous period of the same length)."""
    cur, routes = _cells(reader, period, flt)
    prev, prev_routes = _cells(reader, period.previous, flt)
    if flt.routes:  # sizes are counted per file, not per route
        every = Filters(flt.sources, [], flt.hosts)
        sized = reader.totals(period.since, period.until, every, False)
    else:
        sized = cur
    head, before = figures(cur), figures(prev)
    stuck = reader.stuck(now - STUCK_AFTER, flt)
    return {
        "generated_at": now.isoformat(),
        "period": {"since": period.since.isoformat(), "until": period.until.isoformat()},
        "previous_period": {
            "since": period.previous.since.isoformat(),
            "until": period.previous.until.isoformat(),
        },
        "filters": {"sources": flt.sources, "routes": flt.routes, "hosts": flt.hosts},
        "summary": _compared(head, before, period.hours) | {"stuck": {"current": len(stuck)}},
        "latency": {
            "end_to_end": head["latency"] | {"previous": before["latency"]},
            "actions": _latency(routes, prev_routes),
        },
        "by_source": _grouped(cur, 0),
        "by_route": _grouped(routes, 1),
        "by_day": _days(reader, period, flt),
        "sizes": _sizes(sized),
        "errors": _errors(cur, prev),
        "stuck": [{**s, "created_at": s["created_at"].isoformat()} for s in stuck],
        "capacity": capacity.capacity(reader, flt, config, now),
        "slos": [slo.status(reader, s, now) for s in slos],
    }
