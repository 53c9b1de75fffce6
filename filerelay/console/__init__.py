"""The web console: static pages (vanilla ES modules, SVG charts, en and zh-CN) that are a
client of the HTTP API under ``/api/v1`` and of nothing else.

:func:`mount` adds it to the API's FastAPI app: the assets under ``/console/static/``, the one
HTML page for every ``/console/...`` address (the pages route in the browser), and ``/``
sending the browser to ``/console/`` with its query kept (``/?token=...`` as printed by
``filerelay run``). Nothing here reads the store or the broker.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

#: The console's files, shipped as package data (see pyproject's ``package-data``).
STATIC_DIR = Path(__file__).parent / "static"

#: Only this origin's scripts, styles and connections: no CDN can be used, even by mistake.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _index() -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


def mount(app: FastAPI) -> FastAPI:
    """Serve the console from ``app``: ``/console/`` and below, and ``/`` as a redirect."""
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    async def console_page(request: Request) -> Response:
        return _index()

    async def root(request: Request) -> Response:
        query = request.url.query
        return RedirectResponse("/console/" + (f"?{query}" if query else ""), status_code=307)

    app.add_api_route("/console", console_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/console/{page:path}", console_page, methods=["GET"], include_in_schema=False
    )
    if not any(getattr(route, "path", None) == "/" for route in app.router.routes):
        app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    return app
