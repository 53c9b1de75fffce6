"""Reports, SLO status and the rollup rebuild: the use cases behind ``filerelay report``,
``filerelay slo status``, ``filerelay db rollup --rebuild`` and ``/api/v1/reports`` and
``/api/v1/slos``. Results are JSON-ready dicts (and rendered text for the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from filerelay.config.reports import ReportsConfig, SloConfig
from filerelay.errors import UsageError
from filerelay.fleet.identity import selects
from filerelay.reports import build, slo
from filerelay.reports.data import Filters, RollupReader
from filerelay.store import Store
from filerelay.store import rollups as rollup_rows
from filerelay.store.db import utcnow
from filerelay.store.fleet import FleetStore

FORMATS = ("text", "json", "csv", "html")


def build_report(
    store: Store,
    *,
    period: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    sources: list[str] | None = None,
    routes: list[str] | None = None,
    hosts: list[str] | None = None,
    config: ReportsConfig | None = None,
    slos: list[SloConfig] | None = None,
    now: datetime | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The report of a period (``day``/``week``/``month`` up to now, or ``since``/``until``)
    filtered by source, route, agent host and agent ``labels`` (the hosts of the agents that
    carry them), as a JSON-ready dict."""
    now = now or utcnow()
    if labels:
        hosts = [*(hosts or []), *hosts_labelled(store, labels)]
    if period is not None and period not in build.PERIODS:
        raise UsageError(f"--period: {period!r} is not one of {', '.join(build.PERIODS)}")
    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be before --until")
    chosen = build.period_for(period, since, until, now)
    flt = Filters(sources or [], routes or [], hosts or [])
    reader = RollupReader(store.engine)
    return build.build_report(reader, chosen, flt, config or ReportsConfig(), slos or [], now)


def hosts_labelled(store: Store, labels: dict[str, str]) -> list[str]:
    """The hosts of every agent ever recorded with ``labels``; UsageError when there is none
    (an empty filter would report every host)."""
    rows = FleetStore(store.engine).agents(datetime(1970, 1, 1, tzinfo=UTC))
    hosts = sorted({r.host for r in rows if selects(labels, r.labels or {})})
    if not hosts:
        wanted = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        raise UsageError(f"--label: no agent has the labels {wanted}")
    return hosts


def render(report: dict[str, Any], fmt: str) -> str:
    """The report in one of :data:`FORMATS`."""
    import json

    from filerelay.reports.render_html import render_html
    from filerelay.reports.render_text import render_csv, render_text

    if fmt == "json":
        return json.dumps(report, indent=2, default=str) + "\n"
    renderers = {"text": render_text, "csv": render_csv, "html": render_html}
    if fmt not in renderers:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


def slo_status(
    store: Store, slos: list[SloConfig], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Attainment, error budget left and 1-hour burn rate of every configured SLO."""
    reader = RollupReader(store.engine)
    return [slo.status(reader, s, now or utcnow()) for s in slos]


def rebuild_rollups(store: Store, since: datetime | None = None) -> int:
    """Recompute the rollups from the finished events in the store (from ``since`` on);
    how many events were counted. Hours before ``since`` (or whose events were pruned,
    when ``since`` is after them) keep their rows."""
    with store.engine.begin() as conn:
        return rollup_rows.rebuild(conn, since)
