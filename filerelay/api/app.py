"""The app factory: :func:`create_app` builds the FastAPI app over one deployment.

Stateless apart from caches (the session key, the SSE hub's poller): run several behind a
load balancer. Routes live under ``/api/v1``; the OpenAPI 3.1 document is at
``/api/v1/openapi.json`` and a self-contained docs page (no remote asset) at ``/api/docs``.
Each route's role is in the document as ``x-role`` (and its action as ``x-action``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from filerelay import __version__
from filerelay.api import problems
from filerelay.api.auth import ACTIONS, FailureBrake
from filerelay.api.routers import (
    admin,
    config,
    events,
    fleet,
    health,
    limits,
    live,
    monitor,
    pipelines,
    queues,
    reports,
    session,
    sources,
    summary,
)
from filerelay.ops.deployment import Deployment
from filerelay.settings import Settings

PREFIX = "/api/v1"


def create_app(settings: Settings, dep: Deployment | None = None) -> FastAPI:
    """The API app for ``settings`` (the store is opened now unless ``dep`` is given)."""
    dep = dep or Deployment.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        hub = getattr(app.state, "hub", None)
        if hub is not None:
            hub.stop()

    app = FastAPI(
        title="filerelay",
        version=__version__,
        description=(
            "The HTTP API of filerelay: events, sources, agents, config, alerts, logs, "
            "breakers, reports, SLOs, fleet."
        ),
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        responses=problems.COMMON,
    )
    app.state.dep = dep
    app.state.settings = settings
    app.state.brake = FailureBrake(settings.api_auth_failures_per_minute)
    app.state.session_key = None
    problems.install(app)
    routers = (
        *(health, session, events, pipelines, summary, sources, monitor, live, config),
        *(admin, limits, reports, fleet, queues),
    )
    for module in routers:
        _document_roles(module.router.routes)
        app.include_router(module.router, prefix=PREFIX)
    app.add_api_route("/api/docs", _docs, include_in_schema=False, response_class=HTMLResponse)
    return app


def _docs() -> HTMLResponse:
    page = resources.files("filerelay.api").joinpath("static/docs.html").read_text("utf-8")
    return HTMLResponse(page)


def route_action(route: APIRoute) -> str | None:
    """The action a route performs (None: a public route)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        action = getattr(dep.call, "action", None)
        if action is not None:
            return str(action)
        stack.extend(dep.dependencies)
    return None


def _document_roles(routes: list[Any]) -> None:
    for route in routes:
        if isinstance(route, APIRoute):
            action = route_action(route)
            extra: dict[str, Any] = {"x-role": ACTIONS[action].value if action else "public"}
            if action:
                extra["x-action"] = action
            route.openapi_extra = {**(route.openapi_extra or {}), **extra}
