"""``reports`` (a period's figures, as JSON or a self-contained HTML page) and ``slos``
(attainment and error budget of the configured objectives)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models_ops import Report, Slo
from filerelay.config.reports import ReportsConfig, SloConfig
from filerelay.ops import reports as ops_reports
from filerelay.ops.deployment import Deployment
from filerelay.ops.inputs import parse_time

router = APIRouter(tags=["reports"])

HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}}
}


def _config(dep: Deployment) -> tuple[ReportsConfig, list[SloConfig]]:
    loaded = dep.config()
    if loaded is None:
        return ReportsConfig(), []
    return loaded.model.reports, list(loaded.model.slos)


class ReportQuery:
    """The report's query parameters."""

    def __init__(
        self,
        period: Literal["day", "week", "month"] | None = Query(
            None, description="Up to now; default: the last day."
        ),
        since: str | None = Query(None, max_length=64, description="ISO time or age (7d)."),
        until: str | None = Query(None, max_length=64),
        source: list[str] = Query([], max_length=50, description="Only these sources."),
        route: list[str] = Query([], max_length=50, description="Only these routes."),
        agent: list[str] = Query([], max_length=50, description="Only these agent hosts."),
    ) -> None:
        self.period = period
        self.since = since
        self.until = until
        self.sources = source
        self.routes = route
        self.hosts = agent

    def build(self, dep: Deployment) -> dict[str, Any]:
        """The report these parameters ask for."""
        config, slos = _config(dep)
        return ops_reports.build_report(
            dep.store,
            period=self.period,
            since=parse_time(self.since, "since"),
            until=parse_time(self.until, "until"),
            sources=self.sources,
            routes=self.routes,
            hosts=self.hosts,
            config=config,
            slos=slos,
        )


@router.get("/reports", response_model=Report, responses=HTML)
def report(
    query: ReportQuery = Depends(),
    format: Literal["json", "html"] = Query("json", description="html: the page of /reports.html"),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> Any:
    """A period's report beside the previous one: summary, latency, per source and route,
    the daily series, sizes, errors, stuck files, capacity, SLOs."""
    built = query.build(dep)
    if format == "html":
        return HTMLResponse(ops_reports.render(built, "html"))
    return JSONResponse(Report.model_validate(built).model_dump(mode="json"))


@router.get("/reports.html", response_class=HTMLResponse, responses=HTML)
def report_html(
    query: ReportQuery = Depends(),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> HTMLResponse:
    """The report as one self-contained HTML page (no remote asset)."""
    return HTMLResponse(ops_reports.render(query.build(dep), "html"))


@router.get("/slos", response_model=list[Slo])
def slos(
    _: Principal = Depends(allowed("read")), dep: Deployment = Depends(deployment)
) -> list[Slo]:
    """Each configured SLO: attainment, error budget left, 1-hour burn rate."""
    configured = _config(dep)[1]
    return [Slo.model_validate(s) for s in ops_reports.slo_status(dep.store, configured)]
