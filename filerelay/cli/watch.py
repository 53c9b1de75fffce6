"""``filerelay watch``: the watcher process."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path
from types import FrameType

import structlog

from filerelay.cli.common import CONFIG_OPTION, load_checked, settings_for
from filerelay.config import LoadedConfig
from filerelay.settings import Settings
from filerelay.tasks import CeleryPublisher, make_celery
from filerelay.watcher.service import Watcher

log = structlog.get_logger("filerelay.cli")


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the loops flush and exit)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def build_watcher(settings: Settings, loaded: LoadedConfig) -> Watcher:
    app = make_celery(settings)
    publish = CeleryPublisher(app, settings.queue)
    return Watcher(loaded.model.sources, settings.state_dir, publish, host=socket.gethostname())


def run_watcher(watcher: Watcher, stop: threading.Event) -> None:
    """Run the watcher in this thread; log ``watcher_ready`` once it observes every source."""

    def announce() -> None:
        while not stop.is_set():
            if watcher.ready.wait(0.2):
                log.info("watcher_ready")
                return

    threading.Thread(target=announce, name="ready-announcer", daemon=True).start()
    watcher.run(stop)


def watch(config: Path | None = CONFIG_OPTION) -> None:
    """Watch the configured sources and publish one ingest task per stable file.

    Example: FILERELAY_BROKER_URL=redis://127.0.0.1:6379/0 filerelay watch -c pipeline.yaml
    """
    settings = settings_for(config)
    loaded = load_checked(settings)
    watcher = build_watcher(settings, loaded)
    stop = threading.Event()
    install_stop_handlers(stop)
    log.info("watcher_starting", sources=[s.name for s in loaded.model.sources])
    run_watcher(watcher, stop)
    log.info("watcher_stopped")
