"""What a worker process holds: settings, the loaded config, the store, router and clients.

Built lazily, once per process (a prefork child builds its own after the fork), never at import.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field

from filerelay.actions.base import Resources
from filerelay.actions.registry import Registry, default_registry
from filerelay.config import ActionCatalog, LoadedConfig, load_config
from filerelay.errors import ConfigError
from filerelay.routing import Router
from filerelay.settings import Settings
from filerelay.store import Store, ensure_schema, make_engine


@dataclass
class Runtime:
    """Per-process state of a worker."""

    settings: Settings
    config: LoadedConfig
    registry: Registry
    store: Store
    router: Router
    resources: Resources
    host: str = field(default_factory=socket.gethostname)

    def close(self) -> None:
        self.resources.clients.close()
        self.store.engine.dispose()


def build_runtime(settings: Settings, registry: Registry | None = None) -> Runtime:
    """Load and validate the config, open the store (upgrading it if allowed)."""
    if settings.config is None:
        raise ConfigError("no pipeline config: pass --config or set FILERELAY_CONFIG")
    registry = registry or default_registry()
    loaded = load_config(settings.config, ActionCatalog.from_registry(registry), check_paths=False)
    engine = make_engine(settings.resolved_database_url())
    ensure_schema(engine, auto_upgrade=settings.db_auto_upgrade)
    return Runtime(
        settings=settings,
        config=loaded,
        registry=registry,
        store=Store(engine),
        router=Router(loaded.model.routes),  # type: ignore[attr-defined]
        resources=Resources(connections=dict(loaded.model.connections)),
    )


class RuntimeHolder:
    """One runtime per process, rebuilt after a fork."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pid = -1
        self._runtime: Runtime | None = None

    def get(self) -> Runtime:
        with self._lock:
            if self._runtime is None or self._pid != os.getpid():
                self._runtime = build_runtime(self.settings)
                self._pid = os.getpid()
            return self._runtime

    def reset(self) -> None:
        with self._lock:
            if self._runtime is not None and self._pid == os.getpid():
                self._runtime.close()
            self._runtime = None
