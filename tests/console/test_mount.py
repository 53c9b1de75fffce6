"""The console mounted on a FastAPI app, served by a real uvicorn on loopback: its one page
for every console address (with a same-origin-only CSP), its modules, and ``/?token=``
forwarded to the console with the query kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from filerelay.console import mount
from tests.conftest import free_port, wait_for


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    app = FastAPI()
    mount(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 10, 0.02, what="uvicorn started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/files/abc", "/console/audit"])
def test_every_console_address_is_the_one_page(base: str, path: str) -> None:
    # When a console address is asked for
    r = requests.get(base + path, timeout=5)
    # Then it is the page, which may load only from its own origin
    assert r.status_code == 200
    assert '<script type="module" src="/console/static/js/app.js">' in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_modules_and_messages_are_served_with_their_types(base: str) -> None:
    # When the app's module and a language file are fetched, then browsers accept their types
    js = requests.get(base + "/console/static/js/app.js", timeout=5)
    assert js.status_code == 200 and "javascript" in js.headers["Content-Type"]
    zh = requests.get(base + "/console/static/i18n/zh-CN.json", timeout=5)
    assert zh.json()["nav.dashboard"] == "仪表盘"
    assert requests.get(base + "/console/static/js/nope.js", timeout=5).status_code == 404


def test_the_root_address_forwards_to_the_console_with_its_token(base: str) -> None:
    # When the address `filerelay run` prints is opened
    r = requests.get(base + "/?token=abc", allow_redirects=False, timeout=5)
    # Then the browser is sent to the console, the token still in the query for the page
    assert r.status_code == 307
    assert r.headers["Location"] == "/console/?token=abc"
