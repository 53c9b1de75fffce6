"""One ``filerelay run`` (watcher, worker, API and console) and one Chromium for a test module.

The deployment's route sends every file to a webhook receiver (a real pytest-httpserver) that
can be broken on purpose: while ``broken`` it answers 400 to files whose name starts with
``fail`` (a permanent error, so the step fails at once), and 200 otherwise.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import free_port, port_open, wait_for
from tests.e2e.harness import Proc, Relay, run_filerelay

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"

CONFIG = """\
sources:
  - name: inbox
    path: "{inbox}"
    silence: 0.3s
  - name: held
    path: "{held}"
    silence: 0.3s
routes:
  - name: deliver
    steps:
      - webhook: {{url: "{hook}"}}
        name: hook
alerts:
  interval: 3s
  channels:
    pager: {{type: webhook, url: "${{ALERT_HOOK_URL}}"}}
  rules:
    - {{name: failing, kind: failure_rate, threshold: 0.5, min_events: 1, window: 1h, for: 1h,
        channels: [pager]}}
    - {{name: deep-queue, kind: backlog, max_queue_depth: 500, channels: [pager]}}
"""


@dataclass
class Receiver:
    """The webhook receiver: what it got, and a switch that breaks it for ``fail*`` files."""

    server: HTTPServer
    broken: bool = True
    bodies: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        with self.lock:
            self.bodies.append(body)
        if self.broken and re.search(r'"fail[^"]*"', body):
            return Response("refused on purpose", status=400)
        return Response("{}", status=200, content_type="application/json")

    def got(self, needle: str) -> bool:
        with self.lock:
            return any(needle in b for b in self.bodies)


@dataclass
class Console:
    """A running deployment: the API's base URL, tokens, folders and receiver."""

    base: str
    admin_token: str
    viewer_token: str
    relay: Relay
    proc: Proc
    receiver: Receiver

    @property
    def inbox(self) -> Path:
        return self.relay.root / "inbox"

    @property
    def held(self) -> Path:
        return self.relay.root / "held"

    def outbox_count(self, source: str) -> int:
        """Events of ``source`` the watcher holds in its outbox (not published yet)."""
        total = 0
        for db in self.relay.state.rglob("watcher.sqlite"):
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT event FROM outbox").fetchall()
            total += sum(1 for (event,) in rows if f'"source":"{source}"' in event.replace(" ", ""))
        return total


@contextmanager
def deployment(root: Path) -> Iterator[Console]:
    """Start ``filerelay run`` with the API on a free port; stop everything by pid after."""
    server = HTTPServer(host="127.0.0.1", port=free_port())
    receiver = Receiver(server)
    server.expect_request("/hook").respond_with_handler(receiver.handle)
    server.expect_request("/alerts").respond_with_data("ok")
    server.start()
    (root / "inbox").mkdir()
    (root / "held").mkdir()
    config = CONFIG.format(
        inbox=root / "inbox",
        held=root / "held",
        hook=server.url_for("/hook"),
    )
    # an alert channel's URL is a secret (a config pushed to the store keeps none)
    relay = Relay(root, config, extra_env={"ALERT_HOOK_URL": server.url_for("/alerts")})
    port = free_port()
    # `run --no-serve` and a `serve` beside it. `run`'s in-process API answered 503 (store
    # unavailable) to most reads under this test's load, and before that read stale rows.
    run = Proc(
        "run",
        [*_python_m(), "run", "--no-serve", "--config", str(relay.config), "--concurrency", "2"],
        relay.env,
        root,
        root / "run.log",
    )
    serve = Proc(
        "serve",
        [*_python_m(), "serve", "--config", str(relay.config), "--port", str(port)],
        relay.env,
        root,
        root / "serve.log",
    )
    relay.procs += [run, serve]
    try:
        run.start()
        run.wait_log("watcher_ready", 90)
        run.wait_log("worker_ready", 90)
        tokens = {role: _token(relay, root, role) for role in ("admin", "viewer")}
        serve.start().wait_log("api_serving", 60)
        wait_for(lambda: port_open("127.0.0.1", port), 30, what="serve listening")
        yield Console(
            f"http://127.0.0.1:{port}", tokens["admin"], tokens["viewer"], relay, run, receiver
        )
    except BaseException:
        print(relay.logs())
        raise
    finally:
        relay.stop()
        server.clear()
        if server.is_running():
            server.stop()


def _token(relay: Relay, root: Path, role: str) -> str:
    made = run_filerelay(("tokens", "create", f"{role}-1", "--role", role), root, relay.env)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _python_m() -> list[str]:
    import sys

    return [sys.executable, "-m", "filerelay"]


def launch_options() -> dict[str, Any]:
    """Playwright's launch options for Debian's Chromium."""
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}
