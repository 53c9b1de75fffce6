"""Server-Sent Events: ``stream`` (file, pipeline and step outcomes) and ``logs/stream`` (the log
tail). Both accept the session cookie, as EventSource cannot send headers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from filerelay.api.auth import Principal, allowed
from filerelay.api.sse import hub_of, stream
from filerelay.ops.monitor import log_filter

router = APIRouter(tags=["live"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "SSE"}
}


@router.get("/stream", response_class=StreamingResponse, responses=SSE_DOC)
async def outcomes(
    request: Request,
    source: str | None = Query(None, max_length=255),
    event_id: str | None = Query(None, max_length=64, description="Only this file's outcomes."),
    _: Principal = Depends(allowed("read")),
) -> StreamingResponse:
    """``event: event`` for each file that finished (id, state, source, relpath, reason),
    ``event: pipeline`` for each pipeline that finished (id, event_id, route, status, error)
    and ``event: step`` for each step that started, ended or waits for a retry (id,
    pipeline_id, event_id, source, route, name, action, phase, attempt, max_attempts, state:
    running, succeeded, failed, cancelled or retrying, error, at, next_attempt_at)."""

    def accept(kind: str, row: dict[str, Any]) -> bool:
        if event_id is not None and row.get("id" if kind == "event" else "event_id") != event_id:
            return False
        return source is None or kind == "pipeline" or row.get("source") == source

    hub = hub_of(request)
    sub = hub.subscribe(frozenset({"event", "pipeline", "step"}), accept)
    body = stream(request, sub, hub)
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/logs/stream", response_class=StreamingResponse, responses=SSE_DOC)
async def log_tail(
    request: Request,
    agent: str | None = Query(None, max_length=255),
    level: str | None = Query(None, max_length=16),
    event: str | None = Query(None, max_length=128),
    q: str | None = Query(None, max_length=200),
    _: Principal = Depends(allowed("read")),
) -> StreamingResponse:
    """``event: log`` for each new log record matching the filters."""
    flt = log_filter(agent, level, event, q)

    def accept(kind: str, row: dict[str, Any]) -> bool:
        if flt.agent and row["agent"] != flt.agent:
            return False
        if flt.level and row["level"] != flt.level:
            return False
        if flt.event and row["event"] != flt.event:
            return False
        return not flt.search or flt.search.lower() in str(row["fields"]).lower()

    hub = hub_of(request)
    sub = hub.subscribe(frozenset({"log"}), accept)
    body = stream(request, sub, hub)
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
