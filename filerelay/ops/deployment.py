"""What a long-running operator front end (the HTTP API) holds of its deployment: the
settings, the store's facades on one engine, the Celery app (made on first use) and the
config file (re-read when it changes on disk)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from filerelay.config import LoadedConfig
from filerelay.errors import ConfigError
from filerelay.ops import open_store
from filerelay.ops.config import check_config
from filerelay.settings import Settings
from filerelay.store import Store
from filerelay.store.admin import ControlStore
from filerelay.store.fleet import FleetStore
from filerelay.store.overview import OverviewStore


@dataclass
class Deployment:
    """One deployment as ops see it; safe to share between threads."""

    settings: Settings
    store: Store
    control: ControlStore
    overview: OverviewStore
    _celery: Celery | None = None
    _loaded: LoadedConfig | None = None
    _stamp: tuple[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings) -> Deployment:
        """Open the store of ``settings`` (schema checked or upgraded)."""
        store = open_store(settings)
        return cls(settings, store, ControlStore(store.engine), OverviewStore(store.engine))

    def celery(self) -> Celery:
        """The Celery app of the deployment, to publish tasks (made once)."""
        from filerelay.tasks import make_celery

        with self._lock:
            if self._celery is None:
                self._celery = make_celery(self.settings)
            return self._celery

    def config(self) -> LoadedConfig | None:
        """The config file, validated; re-read when its size or mtime changed; None when
        the deployment runs none. :class:`ConfigError` when the file is broken now."""
        if self.settings.config is None:
            return None
        try:
            st = os.stat(self.settings.config)
        except OSError as exc:
            raise ConfigError(f"{self.settings.config}: {exc.strerror}") from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._loaded is None or stamp != self._stamp:
                self._loaded = check_config(self.settings, check_paths=False)
                self._stamp = stamp
            return self._loaded

    def sources(self) -> list[Any]:
        """The configured sources (an empty list without a config or with a broken one)."""
        try:
            loaded = self.config()
        except (ConfigError, OSError):
            return []
        return list(loaded.model.sources) if loaded else []

    def fleet(self) -> FleetStore:
        """The config center's facade on the deployment's store."""
        return FleetStore(self.store.engine)

    def close(self) -> None:
        """Release the store's connections."""
        self.store.engine.dispose()
