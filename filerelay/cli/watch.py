"""``filerelay watch``: the watcher process."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import structlog
import typer

from filerelay.agents import WatcherAgent
from filerelay.cli.common import (
    CONFIG_OPTION,
    check_config,
    claim_state_dir,
    load_checked,
    run_guarded,
    settings_for,
)
from filerelay.config import LoadedConfig
from filerelay.config.reload import try_reload
from filerelay.fleet.identity import agent_id
from filerelay.metrics.setup import start_watcher_metrics
from filerelay.pipeline.inline import inline_step_s
from filerelay.settings import Settings
from filerelay.tasks import CeleryPublisher, make_celery
from filerelay.watcher.hooks import WatcherHookList
from filerelay.watcher.service import Watcher

log = structlog.get_logger("filerelay.cli")

METRICS_PORT_OPTION = typer.Option(
    None,
    "--metrics-port",
    help="Serve Prometheus metrics on this port (default: $FILERELAY_METRICS_PORT; unset: off).",
    show_default=False,
)


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the loops flush and exit)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def build_watcher(
    settings: Settings,
    loaded: LoadedConfig,
    held: Callable[[], frozenset[str]] | None = None,
    hooks: WatcherHookList | None = None,
) -> Watcher:
    app = make_celery(settings)
    # nothing consumes the task-sent events of ingest messages (Flower lists a task from the
    # worker's events): not sending them halves the watcher's broker traffic
    app.conf.task_send_sent_event = False
    publish = CeleryPublisher(
        app,
        settings.queue,
        settings.max_backlog,
        inline_step_s(loaded.model),
        agent=agent_id(settings),
        shared_sources=frozenset(s.name for s in loaded.model.sources if s.shared),
        ingest_batch=settings.ingest_batch,
    )
    # connect while the sources are scanned, not when the first file is handed over
    threading.Thread(target=publish.warm_up, name="publisher-warm-up", daemon=True).start()
    return Watcher(
        loaded.model.sources,
        settings.state_dir,
        publish,
        host=socket.gethostname(),
        held=held,
        hooks=hooks,
        linger=publish.linger_s,
    )


def run_watcher(watcher: Watcher, stop: threading.Event, delivers_to: str = "") -> None:
    """Run the watcher in this thread; once it observes every source, log ``watcher_ready``:
    the one start-up line, saying what it watches and where it hands files over to."""

    def announce() -> None:
        while not stop.is_set():
            if watcher.ready.wait(0.2):
                watching = {n: f"{sw.root} ({sw.kind})" for n, sw in watcher.sources.items()}
                log.info("watcher_ready", watching=watching, delivers_to=delivers_to)
                return

    threading.Thread(target=announce, name="ready-announcer", daemon=True).start()
    watcher.run(stop)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ConfigWatch:
    """Notices a changed config file (checked every second) or a SIGHUP, and reloads it:
    a bad file is refused with its errors logged and the old config stays."""

    def __init__(self, settings: Settings, loaded: LoadedConfig) -> None:
        self.settings = settings
        self.loaded = loaded
        self.path = Path(str(settings.config))
        self._seen = _signature(self.path)
        self.hup = threading.Event()

    def install_sighup(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: self.hup.set())

    def poll(self, wait_s: float) -> LoadedConfig | None:
        """Wait up to ``wait_s``; a newly loaded valid config, or None."""
        forced = self.hup.wait(wait_s)
        self.hup.clear()
        sig = _signature(self.path)
        if not forced and (sig is None or sig == self._seen):
            return None
        self._seen = sig
        loaded = try_reload(lambda: check_config(self.settings), log, self.path)
        if loaded is None:
            return None
        if loaded.sha256 == self.loaded.sha256:
            return None
        self.loaded = loaded
        log.info("config_reloaded", sha256=loaded.sha256[:12])
        return loaded


def supervise(
    settings: Settings,
    loaded: LoadedConfig,
    stop: threading.Event,
    hooks: WatcherHookList | None = None,
) -> None:
    """Run the watcher until ``stop``; when a reload changes the sources, swap in a new
    watcher (the old one flushes; its outbox and index carry over, so nothing is emitted
    twice and files that were pending are found again by the new one's start-up walk)."""
    config = ConfigWatch(settings, loaded)
    config.install_sighup()
    sources = loaded.model.sources
    agent = WatcherAgent(settings, sources).start()  # heartbeat and pause switch, off the hot path
    try:
        _supervise(settings, config, agent, stop, hooks)
    finally:
        agent.stop()
    log.info("watcher_stopped")


def _supervise(
    settings: Settings,
    config: ConfigWatch,
    agent: WatcherAgent,
    stop: threading.Event,
    hooks: WatcherHookList | None,
) -> None:
    sources = config.loaded.model.sources
    while not stop.is_set():
        inner = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=_run_capturing,
            args=(
                build_watcher(settings, config.loaded, agent.held, hooks),
                inner,
                failure,
                settings.broker_label(),
            ),
            name="watcher",
        )
        thread.start()
        swap = False
        while not stop.is_set() and thread.is_alive() and not swap:
            new = config.poll(1.0)
            if new is not None and new.model.sources != sources:
                log.info("sources_changed", sources=[s.name for s in new.model.sources])
                sources, swap = new.model.sources, True
                agent.set_sources(sources)
        inner.set()
        thread.join()
        if failure:
            raise failure[0]
        if not swap:
            break


def _run_capturing(
    watcher: Watcher, stop: threading.Event, failure: list[BaseException], delivers_to: str
) -> None:
    try:
        run_watcher(watcher, stop, delivers_to)
    except BaseException as exc:  # re-raised in the main thread by supervise()
        failure.append(exc)


def watch(
    config: Path | None = CONFIG_OPTION, metrics_port: int | None = METRICS_PORT_OPTION
) -> None:
    """Watch the configured sources and publish one ingest task per stable file.

    The config is reloaded on SIGHUP and when the file changes (a bad file is refused and the
    old config stays). Example:
    FILERELAY_BROKER_URL=redis://127.0.0.1:6379/0 filerelay watch -c pipeline.yaml
    --metrics-port 9310
    """
    settings = settings_for(config, metrics_port=metrics_port)
    state_lock = claim_state_dir(settings)  # noqa: F841 -- held until the process exits
    loaded = load_checked(settings)
    stop = threading.Event()
    install_stop_handlers(stop)
    metrics = run_guarded(lambda: start_watcher_metrics(settings))
    log.debug("watcher_starting", sources=[s.name for s in loaded.model.sources])
    try:
        run_guarded(lambda: supervise(settings, loaded, stop, metrics.hooks))
    finally:
        metrics.stop()
