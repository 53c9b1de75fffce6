"""Processes, waiting and timing for the benchmarks: every process started here is stopped by
its pid (its process group) in a ``finally``; nothing is killed by name.

A :class:`Relay` is one filerelay deployment in a temp dir (config, state dir, SQLite store,
logs, its own Redis db), with ``filerelay watch`` and ``filerelay worker`` as child processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def wait_for(
    predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.01
) -> object:
    """Poll ``predicate`` until truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's FILERELAY_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILERELAY_")}
    env.update(extra)
    return env


@dataclass
class Proc:
    """A child process in its own session, its output in ``log_path``."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, needle: str, timeout_s: float = 120.0, count: int = 1) -> float:
        """Wait for ``needle`` in the log (``count`` times); the monotonic time it was seen."""

        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log()[-3000:]
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{tail}")
            return self.log().count(needle) >= count

        wait_for(seen, timeout_s, f"{needle!r} in the {self.name} log", interval_s=0.02)
        return time.monotonic()

    def terminate(self) -> None:
        """SIGTERM the process group (without waiting)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after ``timeout_s``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout_s)


def run_timed(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Run a command to completion in its own session; its wall time in seconds."""
    started = time.monotonic()
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, start_new_session=True, timeout=1800
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        out = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {out}")
    return elapsed


def log_events(text: str, event: str) -> list[dict[str, Any]]:
    """The JSON log lines (``FILERELAY_LOG_FORMAT=json``) whose event is ``event``."""
    found = []
    for line in text.splitlines():
        if f'"{event}"' not in line:
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmHWM for pid {pid}")


@dataclass
class Relay:
    """One filerelay deployment: config, state dir, SQLite store and logs under ``root``."""

    root: Path
    config_text: str
    broker_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = self.root / "pipeline.yaml"
        self.config.write_text(self.config_text)
        self.db_path = self.root / "store.db"
        self.env = clean_env(
            FILERELAY_STATE_DIR=str(self.root / "state"),
            FILERELAY_DATABASE_URL=f"sqlite:///{self.db_path}",
            FILERELAY_BROKER_URL=self.broker_url,
            FILERELAY_LOG_LEVEL="INFO",
            FILERELAY_LOG_FORMAT="json",
            **self.extra_env,
        )

    def start(self, name: str, *args: str) -> Proc:
        argv = [sys.executable, "-m", "filerelay", *args, "--config", str(self.config)]
        env = {**self.env, "PYTHONPATH": str(REPO)}
        proc = Proc(name, argv, self.root / f"{name}.log", env, self.root)
        self.procs.append(proc)
        return proc.start()

    def start_worker(self, concurrency: int = 2, pool: str = "prefork") -> Proc:
        return self.start("worker", "worker", "-C", str(concurrency), "-P", pool)

    def start_watcher(self) -> Proc:
        return self.start("watcher", "watch")

    def stop(self) -> None:
        """SIGTERM every process at once, then wait for each (SIGKILL after a timeout)."""
        for proc in self.procs:
            proc.terminate()
        for proc in reversed(self.procs):
            proc.stop()

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        """A read-only query on the SQLite store (a fresh connection each time)."""
        import sqlite3

        if not self.db_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as db:
            db.execute("PRAGMA busy_timeout = 5000")
            try:
                return db.execute(query, params).fetchall()
            except sqlite3.OperationalError:
                return []  # schema not created yet

    def count_events(self, state: str = "succeeded") -> int:
        rows = self.sql("SELECT count(*) FROM file_events WHERE state = ?", state)
        return int(rows[0][0]) if rows else 0

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
