"""What a worker process holds: settings, the rules (config versions), the store and clients.

Built lazily, once per process (a prefork child builds its own after the fork), never at
import. The config file is re-checked at most once a second (and at once after SIGHUP in this
process): a valid new version becomes current; an invalid one is refused with its errors
logged and the old rules stay. Every version is saved in the store by its SHA-256 (its text
with the secrets masked, filled in from the current config when it is rebuilt), so a pipeline
always finishes with the rules it started with, on any worker.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

import structlog

from filerelay.actions.base import Resources
from filerelay.actions.registry import Registry, default_registry
from filerelay.config import ActionCatalog, LoadedConfig, load_config, parse_config_text
from filerelay.config.models import RetryPolicy, StepBase, step_slots
from filerelay.config.reload import try_reload
from filerelay.config.secrets import config_secrets
from filerelay.config.stored import masked_config_text, unmasked_config_text
from filerelay.errors import ConfigError
from filerelay.fleet.affinity import step_agent
from filerelay.fleet.identity import agent_id
from filerelay.limits import Limiter, build_limiter
from filerelay.logs import register_secrets
from filerelay.model import FileEvent
from filerelay.pipeline.hooks import StepHookList, StepHooks
from filerelay.routing import Router
from filerelay.settings import Settings
from filerelay.store import Store, ensure_schema, make_engine

log = structlog.get_logger("filerelay.runtime")

RELOAD_CHECK_S = 1.0


@dataclass
class Rules:
    """One version of the pipeline config, compiled: router and connections."""

    loaded: LoadedConfig
    router: Router
    resources: Resources
    registry: Registry | None = None  # the actions' classes (which steps touch the file)
    _touches: dict[int, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, loaded: LoadedConfig, registry: Registry | None = None) -> Rules:
        register_secrets(config_secrets(loaded))  # this process's logs never show them
        model = loaded.model
        return cls(
            loaded,
            Router(model.routes),  # type: ignore[attr-defined]
            Resources(connections=dict(model.connections)),
            registry,
        )

    def agent_for(self, event: FileEvent, step: StepBase | None) -> str:
        """The agent id whose host queue runs ``step`` of ``event``, or ``""`` for the shared
        queue (:func:`filerelay.fleet.affinity.step_agent`). A step whose config is unknown
        stays on the file's host: that is always safe."""
        touches = True
        if step is not None:  # decided once per step of this version (it walks the config)
            cached = self._touches.get(id(step))
            if cached is None:
                registry = self.registry or default_registry()
                cached = registry.get(step.action).touches_file(step.action_config)
                self._touches[id(step)] = cached
            touches = cached
        shared = any(s.name == event.source and s.shared for s in self.loaded.model.sources)
        return step_agent(event.agent, touches, shared)

    @property
    def sha256(self) -> str:
        return self.loaded.sha256

    def step(self, route_name: str, position: int, branch: int = 0) -> StepBase | None:
        """The config of a step slot, or None if the route has no such step."""
        try:
            route = self.loaded.model.route(route_name)
        except KeyError:
            return None
        for pos, br, step, _path in step_slots(route.steps):
            if (pos, br) == (position, branch):
                return step
        return None

    def retry_policy(self, step: StepBase | None) -> RetryPolicy:
        default = self.loaded.model.defaults.retry
        return step.retry if step is not None and step.retry is not None else default

    def timeout_s(self, step: StepBase | None) -> float:
        default = self.loaded.model.defaults.timeout
        return step.timeout if step is not None and step.timeout is not None else default


def _signature(path: os.PathLike[str] | str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass
class Runtime:
    """Per-process state of a worker."""

    settings: Settings
    rules: Rules
    registry: Registry
    store: Store
    hooks: StepHookList = field(default_factory=StepHookList)
    host: str = field(default_factory=socket.gethostname)
    agent: str = ""  # this host's agent id (the fleet), recorded on the steps it claims
    owner_tag: str = "-"  # names this worker in its lease owners (filerelay.pipeline.lease)
    #: exceptions the task layer raises inside a step to stop it (Celery's soft time limit):
    #: retried with one warning, never logged as an unexpected error with a traceback
    interruptions: tuple[type[Exception], ...] = ()
    #: the destinations' rate limits and breakers, shared with the fleet (None: not enforced)
    limits: Limiter | None = None
    _versions: dict[str, Rules] = field(default_factory=dict)
    _signature: tuple[int, int, int] | None = None
    _refused: tuple[int, int, int] | None = None

    @property
    def catalog(self) -> ActionCatalog:
        return ActionCatalog.from_registry(self.registry)

    def rules_for(self, sha256: str | None) -> Rules | None:
        """The rules a pipeline started with: the current ones, a cached version, or the
        version's text from the store. None when that version is unknown or now invalid."""
        if sha256 is None or sha256 == self.rules.sha256:
            return self.rules
        if sha256 not in self._versions:
            stored = self.store.config_text(sha256)
            if stored is None:
                return None
            text = unmasked_config_text(stored, self.rules.loaded.text)
            try:
                model = parse_config_text(
                    text, f"rules@{sha256[:12]}", self.catalog, check_paths=False
                )
            except ConfigError as exc:
                log.error("rules_version_invalid", sha256=sha256, problems=str(exc))
                return None
            loaded = LoadedConfig(model, self.rules.loaded.path, text, sha256)
            self._versions[sha256] = Rules.build(loaded, self.registry)
        return self._versions[sha256]

    def warm_up(self) -> int:
        """Prepare every step of the current rules (clients built, SDKs imported) so that
        the first file through this process runs as fast as the next; returns how many
        steps were prepared. A step that cannot be prepared now (its service down) is logged
        and left to build what it needs on its first run."""
        prepared = 0
        model = self.rules.loaded.model
        for route in model.routes:  # type: ignore[attr-defined]
            for _position, _branch, step, _path in step_slots(route.steps):
                try:
                    action = self.registry.get(step.action)(
                        step.action_config, self.rules.resources
                    )
                    action.prepare()
                    action.close()
                    prepared += 1
                except Exception as exc:  # never fatal: the first run builds it
                    log.warning(
                        "warm_up_failed", route=route.name, action=step.action, error=str(exc)
                    )
        return prepared

    def maybe_reload(self) -> bool:
        """Load the config file again if it changed; True when new rules became current."""
        path = self.rules.loaded.path
        sig = _signature(path)
        if sig is None or sig == self._signature or sig == self._refused:
            return False
        loaded = try_reload(lambda: load_config(path, self.catalog, check_paths=False), log, path)
        if loaded is None:
            self._refused = sig
            return False
        self._signature = sig
        if loaded.sha256 == self.rules.sha256:
            return False
        save_version(self.store, loaded)
        self._versions[self.rules.sha256] = self.rules
        self.rules = Rules.build(loaded, self.registry)
        log.info("config_reloaded", sha256=loaded.sha256[:12], path=str(path))
        return True

    def close(self) -> None:
        for rules in {id(r): r for r in [self.rules, *self._versions.values()]}.values():
            rules.resources.clients.close()
        if self.limits is not None:
            self.limits.close()
        self.store.engine.dispose()


def save_version(store: Store, loaded: LoadedConfig) -> None:
    """Keep this config version in the store: its secrets masked, under the real text's
    SHA-256 (see :mod:`filerelay.config.stored`)."""
    text = masked_config_text(loaded.text, config_secrets(loaded))
    store.save_config(loaded.sha256, text, str(loaded.path))


def build_runtime(
    settings: Settings,
    registry: Registry | None = None,
    hooks: Sequence[StepHooks] = (),
    owner_tag: str = "-",
    interruptions: tuple[type[Exception], ...] = (),
) -> Runtime:
    """Load and validate the config, open the store (upgrading it if allowed); ``hooks``
    observe the runner's outcomes (metrics); ``owner_tag`` names the worker in its leases;
    ``interruptions`` are the task layer's step-stopping exceptions (:class:`Runtime`)."""
    if settings.config is None:
        raise ConfigError("no pipeline config: pass --config or set FILERELAY_CONFIG")
    registry = registry or default_registry()
    loaded = load_config(settings.config, ActionCatalog.from_registry(registry), check_paths=False)
    engine = make_engine(settings.resolved_database_url())
    ensure_schema(engine, auto_upgrade=settings.db_auto_upgrade)
    store = Store(engine)
    save_version(store, loaded)
    runtime = Runtime(
        settings=settings,
        rules=Rules.build(loaded, registry),
        registry=registry,
        store=store,
        hooks=StepHookList(hooks),
        owner_tag=owner_tag,
        interruptions=interruptions,
        limits=build_limiter(settings, engine),
        agent=agent_id(settings),
    )
    runtime._signature = _signature(loaded.path)
    return runtime


class RuntimeHolder:
    """One runtime per process, rebuilt after a fork; checks the config file for changes."""

    def __init__(
        self,
        settings: Settings,
        hooks: Sequence[StepHooks] = (),
        owner_tag: str = "-",
        interruptions: tuple[type[Exception], ...] = (),
    ) -> None:
        self.settings = settings
        self.hooks = list(hooks)
        self.owner_tag = owner_tag  # the worker agent's tag, shared by its forked children
        self.interruptions = interruptions
        self._lock = threading.Lock()
        self._pid = -1
        self._runtime: Runtime | None = None
        self._checked = 0.0
        self._hup = threading.Event()

    def get(self) -> Runtime:
        with self._lock:
            if self._runtime is None or self._pid != os.getpid():
                self._runtime = build_runtime(
                    self.settings,
                    hooks=self.hooks,
                    owner_tag=self.owner_tag,
                    interruptions=self.interruptions,
                )
                self._pid = os.getpid()
                self._checked = time.monotonic()
            elif self._hup.is_set() or time.monotonic() - self._checked >= RELOAD_CHECK_S:
                self._hup.clear()
                self._checked = time.monotonic()
                self._runtime.maybe_reload()
            return self._runtime

    def warm_up(self) -> None:
        """Build this process's runtime and prepare its steps now, before the first task (a
        store or service that is down now is not fatal: the first task builds it)."""
        try:
            started = time.monotonic()
            prepared = self.get().warm_up()
        except Exception as exc:  # the first task builds it, or reports why
            log.warning("warm_up_failed", error=str(exc).splitlines()[0] if str(exc) else "")
            return
        log.info("warmed_up", steps=prepared, took_ms=round((time.monotonic() - started) * 1e3))

    def start_watching(self) -> None:
        """Check the config file every second in a daemon thread of this process, so a
        change is picked up (and logged) even while no task runs."""
        if getattr(self, "_watch_pid", None) == os.getpid():
            return
        self._watch_pid = os.getpid()
        threading.Thread(target=self._watch, name="config-watch", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(RELOAD_CHECK_S)
            with self._lock:
                if self._runtime is None or self._pid != os.getpid():
                    continue
                self._checked = time.monotonic()
                try:
                    self._runtime.maybe_reload()
                except Exception:  # a store hiccup must not kill the watch
                    log.warning("config_check_failed", exc_info=True)

    def request_reload(self, *_: object) -> None:
        """Check the config at the next task (a SIGHUP handler)."""
        self._hup.set()

    def install_sighup(self) -> None:
        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGHUP, handler)

    def reset(self) -> None:
        with self._lock:
            if self._runtime is not None and self._pid == os.getpid():
                self._runtime.close()
            self._runtime = None
