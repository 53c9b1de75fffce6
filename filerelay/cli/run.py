"""``filerelay run``: the watcher, the reconciler and a worker together, for one machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import structlog
import typer

from filerelay.alerting.service import start_alerts
from filerelay.cli.common import (
    CONFIG_OPTION,
    check_config,
    claim_state_dir,
    load_checked,
    run_guarded,
    settings_for,
)
from filerelay.cli.reconcile import start_reconciler
from filerelay.cli.watch import METRICS_PORT_OPTION, install_stop_handlers, supervise
from filerelay.metrics.setup import WatcherMetricsSetup, start_watcher_metrics
from filerelay.settings import Settings
from filerelay.store.migrate import upgrade_apart

log = structlog.get_logger("filerelay.cli")

MAX_RESPAWN_DELAY_S = 30.0
#: How long past its soft-shutdown window a stopping worker child may take before it is killed.
STOP_GRACE_S = 10.0


class WorkerChild:
    """The worker as a child process, started again (with backoff) whenever it dies."""

    def __init__(
        self, config: Path, concurrency: int | None, metrics_dir: Path | None = None
    ) -> None:
        self.argv = [sys.executable, "-m", "filerelay", "worker", "--config", str(config.resolve())]
        if concurrency:
            self.argv += ["--concurrency", str(concurrency)]
        if metrics_dir is not None:  # its metrics go to files this process serves
            self.argv += ["--metrics-dir", str(metrics_dir)]
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv, env=dict(os.environ))

    def supervise(self, stop: threading.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            code = self.proc.wait()
            if stop.is_set():
                return
            if code == 2:  # the worker refused the config: respawning cannot help
                log.error("worker_refused_config", returncode=code)
                stop.set()
                return
            log.error("worker_died", returncode=code, respawn_in_s=delay)
            if stop.wait(delay):
                return
            self.proc = self._spawn()
            delay = min(delay * 2, MAX_RESPAWN_DELAY_S)

    def stop(self, window_s: float) -> None:
        """SIGTERM the worker: it stops at once when idle, or gives running steps ``window_s``
        (and says what it waits for); killed if it is still there :data:`STOP_GRACE_S` later."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=window_s + STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.error("worker_stop_timeout", waited_s=window_s + STOP_GRACE_S)
                self.proc.kill()
                self.proc.wait()

    def stop_when(self, stop: threading.Event, window_s: float) -> threading.Thread:
        """Stop the worker as soon as ``stop`` is set, beside the watcher's own stop."""

        def wait_then_stop() -> None:
            stop.wait()
            self.stop(window_s)

        thread = threading.Thread(target=wait_then_stop, name="worker-stopper", daemon=True)
        thread.start()
        return thread


def run(
    config: Path | None = CONFIG_OPTION,
    concurrency: int | None = typer.Option(None, "--concurrency", "-C", help="Worker processes."),
    metrics_port: int | None = METRICS_PORT_OPTION,
    no_serve: bool = typer.Option(
        False, "--no-serve", help="Do not serve the HTTP API (FILERELAY_API_SERVE=false)."
    ),
) -> None:
    """Run the watcher, the reconciler and the alert evaluator (when the config has alert
    rules) here, and a worker as a child process (restarted if it dies), on the same settings;
    and the HTTP API on 127.0.0.1:8700 unless --no-serve (an admin token is made on the first
    start and its console URL printed once).

    With no FILERELAY_BROKER_URL the embedded broker (a folder under the state dir) and the
    SQLite store need no server. Example: filerelay run --config examples/quickstart.yaml
    """
    settings = settings_for(config, metrics_port=metrics_port)
    state_lock = claim_state_dir(settings)  # noqa: F841 -- held until the process exits
    loaded = load_checked(settings)
    if settings.db_auto_upgrade:  # alembic in a passing child, not in this process
        upgrade_apart(settings.resolved_database_url())
    metrics, metrics_dir = _start_metrics(settings)
    worker = WorkerChild(Path(str(settings.config)), concurrency, metrics_dir)
    stop = threading.Event()
    install_stop_handlers(stop)
    threading.Thread(target=worker.supervise, args=(stop,), daemon=True).start()
    stopper = worker.stop_when(stop, settings.soft_shutdown_s)
    try:
        start_reconciler(settings, stop)
        if settings.api_serve and not no_serve:
            run_guarded(lambda: _serve_api(settings, stop))
        reload = lambda: check_config(settings, check_paths=False)  # noqa: E731
        run_guarded(lambda: start_alerts(settings, loaded, stop, reload))
        run_guarded(lambda: supervise(settings, loaded, stop, metrics.hooks))
    finally:
        stop.set()
        stopper.join()
        metrics.stop()
        if metrics_dir is not None:
            from filerelay.metrics import multiproc

            multiproc.remove(metrics_dir)


def _serve_api(settings: Settings, stop: threading.Event) -> None:
    """Serve the API in a thread; on the first start, make an admin token, keep it in the
    state dir (0600) and print its console URL once."""
    from filerelay.cli.serve import api_url, start_api
    from filerelay.ops.audit import cli_actor
    from filerelay.ops.tokens import bootstrap

    dep = start_api(settings, stop)
    token = bootstrap(dep.control, settings.state_dir, cli_actor().name)
    if token is not None:
        url = f"{api_url(settings)}/?token={token}"
        typer.echo(
            f"filerelay console (this URL holds an admin token, shown once): {url}", err=True
        )
        log.debug("api_token_created", file=str(settings.state_dir / "api-token"))
    log.debug("api_serving", url=api_url(settings))


def _start_metrics(settings: Settings) -> tuple[WatcherMetricsSetup, Path | None]:
    """One metrics endpoint for the whole ``run``: the watcher's metrics here, and the worker
    child's, which it writes to a fresh multiprocess directory this process reads (metrics
    off: prometheus_client is not imported)."""
    if settings.metrics_port is None:
        return run_guarded(lambda: start_watcher_metrics(settings)), None
    from filerelay.metrics import multiproc

    metrics_dir = multiproc.fresh_dir()
    try:
        metrics = run_guarded(lambda: start_watcher_metrics(settings, worker_dir=metrics_dir))
    except BaseException:
        multiproc.remove(metrics_dir)
        raise
    return metrics, metrics_dir
