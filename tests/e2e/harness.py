"""Real filerelay processes for end-to-end tests: a watcher and a worker, stopped by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filerelay.store import Store, make_engine
from tests.conftest import S3_TEST_ENV, migrated_sqlite, stop_process, wait_for


def run_filerelay(
    args: tuple[str, ...], cwd: Path, env: dict[str, str], timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m filerelay ARGS`` in its own process group; on a hang the group is stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "filerelay", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop_process(proc)  # type: ignore[arg-type]
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a test process: no FILERELAY_* from the developer's shell, and no
    HTTP API from `filerelay run` (it would bind 127.0.0.1:8700; tests/api serve their own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILERELAY_")}
    env.update(S3_TEST_ENV)
    env["FILERELAY_API_SERVE"] = "false"
    env.update(extra)
    return env


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, needle: str, timeout_s: float = 60.0, after: int = 0) -> None:
        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.log()}")
            return needle in self.log()[after:]

        wait_for(seen, timeout_s, 0.1, what=f"{needle!r} in {self.name} log")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def stop_kill(self) -> None:
        """SIGKILL the whole process group (a host or process dying), and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


@dataclass
class Relay:
    """A filerelay deployment in a temp dir: config, state, SQLite store, logs."""

    root: Path
    config_text: str
    broker_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = self.root / "pipeline.yaml"
        self.config.write_text(self.config_text)
        self.state = self.root / "state"
        self.db_url = migrated_sqlite(self.root / "store.db")  # a copy: no migrating at start
        self._store: Store | None = None

    @property
    def env(self) -> dict[str, str]:
        extra = {
            "FILERELAY_STATE_DIR": str(self.state),
            "FILERELAY_DATABASE_URL": self.db_url,
            "FILERELAY_LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        if self.broker_url:
            extra["FILERELAY_BROKER_URL"] = self.broker_url
        return clean_env(**extra)

    def _proc(self, name: str, *args: str) -> Proc:
        argv = [sys.executable, "-m", "filerelay", *args, "--config", str(self.config)]
        proc = Proc(name, argv, self.env, self.root, self.root / f"{name}.log")
        self.procs.append(proc)
        return proc

    def start_worker(
        self, concurrency: int = 2, *, via_celery: bool = False, name: str = "worker"
    ) -> Proc:
        """``filerelay worker``, or the same tasks run by ``celery -A filerelay.tasks worker``;
        ``name`` names its log (two workers need two names)."""
        if via_celery:
            argv = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "filerelay.tasks",
                "worker",
                f"--concurrency={concurrency}",
                "--without-mingle",
            ]
            env = {**self.env, "FILERELAY_CONFIG": str(self.config)}
            proc = Proc("worker", argv, env, self.root, self.root / "worker.log")
            self.procs.append(proc)
        else:
            proc = self._proc(name, "worker", "--concurrency", str(concurrency))
        proc.start().wait_log("ready", 90)
        return proc

    def start_watcher(self) -> Proc:
        proc = self._proc("watcher", "watch").start()
        proc.wait_log("watcher_ready", 90)
        return proc

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(make_engine(self.db_url))
        return self._store

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self._store is not None:
            self._store.engine.dispose()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-6000:]}" for p in self.procs)


@contextmanager
def running(relay: Relay) -> Iterator[Relay]:
    """Hold ``relay`` for a test: its logs are printed if the test fails, and every process
    it started is stopped by pid, pass or fail."""
    try:
        yield relay
    except BaseException:
        print(relay.logs())
        raise
    finally:
        relay.stop()
