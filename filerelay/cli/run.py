"""``filerelay run``: the watcher and a worker together, for one machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import structlog
import typer

from filerelay.cli.common import CONFIG_OPTION, Exit, load_checked, run_guarded, settings_for
from filerelay.cli.watch import install_stop_handlers, supervise

log = structlog.get_logger("filerelay.cli")


def run(
    config: Path | None = CONFIG_OPTION,
    concurrency: int | None = typer.Option(None, "--concurrency", "-C", help="Worker processes."),
) -> None:
    """Run the watcher here and a worker as a child process, on the same settings.

    With no FILERELAY_BROKER_URL the embedded broker (a folder under the state dir) and the
    SQLite store need no server. Example: filerelay run --config examples/quickstart.yaml
    """
    settings = settings_for(config)
    loaded = load_checked(settings)
    worker = _spawn_worker(Path(str(settings.config)), concurrency)
    stop = threading.Event()
    install_stop_handlers(stop)
    threading.Thread(target=_watch_child, args=(worker, stop), daemon=True).start()
    try:
        run_guarded(lambda: supervise(settings, loaded, stop))
    finally:
        _stop_child(worker)
    if worker.returncode not in (0, -signal.SIGTERM, None) and not stop.is_set():
        raise typer.Exit(int(Exit.FAILURES))


def _spawn_worker(config: Path, concurrency: int | None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "filerelay", "worker", "--config", str(config.resolve())]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    return subprocess.Popen(argv, env=dict(os.environ))


def _watch_child(child: subprocess.Popen[bytes], stop: threading.Event) -> None:
    code = child.wait()
    if not stop.is_set():
        log.error("worker_exited", returncode=code)
        stop.set()


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
