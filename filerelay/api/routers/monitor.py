"""``agents`` and ``logs``: who runs, with what resources, and what they said lately."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import Agent, AgentDetail, LogPage, LogRecord
from filerelay.ops import monitor
from filerelay.ops.deployment import Deployment

router = APIRouter(tags=["monitor"])


@router.get("/agents", response_model=list[Agent])
def agents(
    label: str | None = Query(
        None, max_length=1024, description="Only agents with these labels: k=v[,k=v]."
    ),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> list[Agent]:
    """Agents heard from within a day: heartbeat, version, state, labels, resource figures."""
    labels = monitor.label_filter(label)
    return [Agent.model_validate(a.to_json()) for a in monitor.list_agents(dep, labels)]


@router.get("/agents/{agent_id}", response_model=AgentDetail)
def agent(
    agent_id: str,
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> AgentDetail:
    """One agent with its recent warnings and errors."""
    view = monitor.get_agent(dep, agent_id)
    errors = [LogRecord.model_validate(r) for r in view.recent_errors]
    return AgentDetail.model_validate({**view.row.to_json(), "recent_errors": errors})


@router.get("/logs", response_model=LogPage)
def logs(
    agent: str | None = Query(None, max_length=255),
    level: str | None = Query(None, max_length=16),
    event: str | None = Query(None, max_length=128),
    q: str | None = Query(None, max_length=200, description="Keyword in the record's fields."),
    cursor: str | None = Query(None, max_length=32),
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> LogPage:
    """Recent warnings, errors and pipeline outcomes of every agent, newest first."""
    page = monitor.logs(dep, monitor.log_filter(agent, level, event, q), limit, cursor)
    items = [LogRecord.model_validate(r) for r in page.rows]
    return LogPage(items=items, next_cursor=page.next_cursor)
