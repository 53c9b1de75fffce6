"""Chaos tooling: servers a scenario kills and restarts, a TCP proxy it cuts, an HTTP receiver
that records every request, extra filerelay processes, and the exactly-once checks.

Everything runs on loopback and is started and stopped by pid by the test that owns it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

from filerelay.model import EventState
from filerelay.store.rows import StepRow
from tests.conftest import free_port, port_open, stop_process, wait_for
from tests.e2e.harness import Proc, Relay
from tests.e2e.test_core_pipeline import objects
from tests.store.store_helpers import count_by_state, events_by_relpath

# Short leases and a fast reconciler, so recovery fits in a test (see filerelay/settings.py).
CHAOS_ENV = {
    "FILERELAY_LEASE_S": "3",
    "FILERELAY_RECONCILE_INTERVAL_S": "1",
    "FILERELAY_RECONCILE_GRACE_S": "3",
    "FILERELAY_AUDIT_INTERVAL_S": "2",  # disk audit: files the broker lost before any ingest
}

S3_CONNECTION = """\
connections:
  s3:
    type: s3
    endpoint_url: "{endpoint}"
    access_key_id: "${{AWS_ACCESS_KEY_ID}}"
    secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}"
    path_style: true
"""


def pipeline(inbox: Path, routes: str, *, endpoint: str | None = None) -> str:
    """A config: the S3 connection (when ``endpoint``), one source ``drop`` with a 300 ms
    silence, then ``routes`` (YAML text from ``routes:`` on, with any ``defaults:``)."""
    head = S3_CONNECTION.format(endpoint=endpoint) if endpoint else ""
    source = f'sources:\n  - {{name: drop, path: "{inbox}", silence: 300ms}}\n'
    return head + source + routes


# --- filerelay processes -----------------------------------------------------------------


def spawn(
    relay: Relay,
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Proc:
    """Start ``[prefix] filerelay <args> --config <relay config>`` as ``name`` (log:
    ``<name>.log``); ``prefix`` is e.g. a ``setpriv`` command line."""
    argv = [*prefix, sys.executable, "-m", "filerelay", *args, "--config", str(relay.config)]
    proc = Proc(name, argv, {**relay.env, **(env or {})}, relay.root, relay.root / f"{name}.log")
    relay.procs.append(proc)
    return proc.start()


def start_worker(
    relay: Relay, name: str = "worker", concurrency: int = 1, prefix: Sequence[str] = ()
) -> Proc:
    """A ``filerelay worker`` with its own node name and log, once it is ready."""
    argv = ["worker", "-C", str(concurrency), "-n", f"{name}@%h"]
    proc = spawn(relay, name, *argv, prefix=prefix)
    proc.wait_log("ready", 90)
    return proc


def start_watcher(relay: Relay, name: str = "watcher", state: Path | None = None) -> Proc:
    """A ``filerelay watch`` (with its own state dir when ``state`` is given), once ready."""
    env = {"FILERELAY_STATE_DIR": str(state)} if state else None
    proc = spawn(relay, name, "watch", env=env)
    proc.wait_log("watcher_ready", 90)
    return proc


def start_reconciler(relay: Relay) -> Proc:
    proc = spawn(relay, "reconciler", "reconcile")
    proc.wait_log("reconciler_starting", 60)
    return proc


def restart(proc: Proc, ready: str) -> None:
    """Start a stopped or killed process again and wait for ``ready`` in its new log lines."""
    mark = len(proc.log())
    proc.start()
    proc.wait_log(ready, 90, after=mark)


def kill(proc: Proc) -> None:
    """SIGKILL the process and everything in its process group (prefork children too)."""
    assert proc.proc is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait(10)


# --- a Redis server the test owns ----------------------------------------------------------


@dataclass
class RedisServer:
    """``redis-server`` on a fixed loopback port; SIGKILL it and start it again on that port."""

    folder: Path
    appendonly: bool
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    password: str | None = None  # requirepass

    def url(self, db: int = 0) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.folder)]
        if self.password:
            argv += ["--requirepass", self.password]
        with (self.folder / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(lambda: self._answers(), 30, what=f"redis-server on {self.port}")
        return self

    def _answers(self) -> bool:
        if not port_open("127.0.0.1", self.port):
            return False
        client = redis.Redis(port=self.port, password=self.password, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def kill(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        wait_for(lambda: not port_open("127.0.0.1", self.port), 10, what="redis port closed")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


# --- a TCP proxy to cut a dependency off ---------------------------------------------------


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to a target. :meth:`cut` refuses new connections and
    closes the open ones (the dependency is down); :meth:`restore` listens again on the same
    port. The target itself keeps running, with its state."""

    def __init__(
        self,
        target_port: int,
        target_host: str = "127.0.0.1",
        tap: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.tap = tap  # sees what clients send; True cuts at once, before it is forwarded
        self.tapped = threading.Event()  # set when the tap cut
        self.port = free_port()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.1)
        self._stop.clear()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:  # wakes both pumps of each pair, which close it
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            for a, b, tap in ((client, upstream, self.tap), (upstream, client, None)):
                threading.Thread(target=self._pump, args=(a, b, tap), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, tap: Callable[[bytes], bool] | None
    ) -> None:
        """Copy one direction; when either side ends, close both (no half-open pairs)."""
        try:
            while data := src.recv(65536):
                if tap is not None and tap(data):
                    self.cut()
                    self.tapped.set()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.difference_update((src, dst))
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


# --- an HTTP receiver that records every request ------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def key(self) -> str:
        return self.headers.get("webhook-id", "")


class Receiver:
    """An HTTP server on loopback recording every request; ``answer(key, n)`` gives the status
    of the ``n``-th (0-based) request carrying webhook-id ``key`` (default: 200)."""

    def __init__(
        self, answer: Callable[[str, int], int] | None = None, delay_s: float = 0.0
    ) -> None:
        self.answer = answer or (lambda _key, _n: 200)
        self.delay_s = delay_s
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._record(self.command, self.path, headers, body)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                payload = json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_DELETE = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            key = headers.get("webhook-id", "")
            status = self.answer(key, sum(1 for h in self.hits if h.key == key))
            self.hits.append(Hit(method, path, headers, body, status))
            return status

    def statuses(self) -> dict[str, list[int]]:
        """Status answered to each idempotency key, in order."""
        with self._lock:
            out: dict[str, list[int]] = {}
            for hit in self.hits:
                out.setdefault(hit.key, []).append(hit.status)
            return out

    def successes(self) -> dict[str, int]:
        """Number of 2xx answers per idempotency key: the effects the receiver applied."""
        return {k: sum(200 <= s < 300 for s in v) for k, v in self.statuses().items()}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- checks ---------------------------------------------------------------------------------


def wait_states(relay: Relay, expected: dict[str, int], timeout_s: float) -> float:
    """Wait until the store's event counts are ``expected``; return the seconds it took."""
    started = time.monotonic()
    try:
        wait_for(lambda: count_by_state(relay.store) == expected, timeout_s, 0.2)
    except AssertionError:
        have = count_by_state(relay.store)
        raise AssertionError(f"after {timeout_s}s events are {have}, not {expected}") from None
    return time.monotonic() - started


def settled(relay: Relay, succeeded: int) -> bool:
    """``succeeded`` events, and every other one ``duplicate`` (an extra detection or ingest
    of a file version that already has its event)."""
    states = count_by_state(relay.store)
    return states.get("succeeded") == succeeded and set(states) <= {"succeeded", "duplicate"}


def assert_bucket(s3_client: Any, bucket: str, files: dict[str, bytes], prefix: str = "") -> None:
    """The bucket holds exactly one object per file, under ``prefix + relpath``, with its bytes
    (and nothing else)."""
    have = objects(s3_client, bucket)
    assert have == {prefix + rel: len(data) for rel, data in files.items()}
    for rel, data in files.items():
        got = s3_client.get_object(Bucket=bucket, Key=prefix + rel)["Body"].read()
        assert got == data, rel


def assert_once_each(relay: Relay, relpaths: list[str], source: str = "drop") -> None:
    """Every file has exactly one primary event, ``succeeded``; any other detection of the
    same version is recorded ``duplicate``."""
    for rel in relpaths:
        states = sorted(e.state for e in events_by_relpath(relay.store, source, rel))
        assert states.count(EventState.SUCCEEDED) == 1 and set(states) <= {
            "succeeded",
            "duplicate",
        }, (
            rel,
            states,
        )


def steps_of_file(relay: Relay, relpath: str, source: str = "drop") -> list[StepRow]:
    """Every step row of every pipeline of the file's events."""
    rows: list[StepRow] = []
    for event in events_by_relpath(relay.store, source, relpath):
        for pipe in relay.store.pipelines_of(event.id):
            rows += relay.store.steps_of(pipe.id)
    return rows


def outbox_depth(relay: Relay) -> int:
    """Events the watcher holds because the broker did not take them yet."""
    with sqlite3.connect(relay.state / "watcher.sqlite", timeout=5) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def watcher_sent(relay: Relay) -> int:
    """Files the watcher emitted whose event the broker has accepted."""
    with sqlite3.connect(relay.state / "watcher.sqlite", timeout=5) as db:
        seen = int(db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])
    return seen - outbox_depth(relay)


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def rss_mb(pid: int) -> float:
    """Resident set size of a process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")
