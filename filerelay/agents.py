"""Agents: every watcher and worker process registers in the store and heartbeats from a
background thread, so ``filerelay status`` and ``filerelay health`` can tell who is alive.

The heartbeat never blocks the process's real work: it runs in its own daemon thread, builds
its store connection lazily there, and a store outage only logs (at most one warning per
outage) and tries again at the next beat. A clean stop marks the agent ``stopped``; an agent
silent for 3 beats is ``offline`` (see :mod:`filerelay.store.agents`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from filerelay import __version__, logsink
from filerelay.model import JSONDict
from filerelay.pipeline.lease import owner_prefix
from filerelay.resources import figures
from filerelay.settings import Settings
from filerelay.statedir import private_dir
from filerelay.store import Store, ensure_schema, make_engine
from filerelay.store.agents import AgentInfo
from filerelay.watcher.holds import CACHE_NAME, HoldPoller, Holds, held_counts

log = structlog.get_logger("filerelay.agents")

DetailsFn = Callable[[], JSONDict]

#: How long a starting watcher holds every source while the pause switch is unknown (the
#: store unreachable and no cached switch): then it publishes rather than stalls.
START_GRACE_S = 10.0


def agent_info(
    role: str,
    heartbeat_s: float,
    *,
    sources: list[str] | None = None,
    queues: list[str] | None = None,
    tag: str | None = None,
) -> AgentInfo:
    """This process, as an agent of ``role`` (``watcher`` or ``worker``); its id ends with
    ``tag`` (a random one unless given)."""
    host = socket.gethostname()
    return AgentInfo(
        id=f"{role}@{host}:{os.getpid()}:{tag or uuid.uuid4().hex[:8]}",
        role=role,
        host=host,
        pid=os.getpid(),
        version=__version__,
        heartbeat_s=heartbeat_s,
        sources=list(sources or []),
        queues=list(queues or []),
    )


class LazyStore:
    """A :class:`Store` opened on first use (in the calling background thread); a failure is
    raised to the caller and the next call tries again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._lock = threading.Lock()

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                engine = make_engine(self.settings.resolved_database_url())
                try:
                    ensure_schema(engine, auto_upgrade=self.settings.db_auto_upgrade)
                except Exception:
                    engine.dispose()
                    raise
                self._store = Store(engine)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.engine.dispose()
                self._store = None


class Heartbeat(threading.Thread):
    """Registers ``info`` and heartbeats every ``info.heartbeat_s`` until :meth:`stop`."""

    def __init__(
        self,
        store: LazyStore,
        info: AgentInfo,
        details: DetailsFn | None = None,
        on_start: Callable[[Store], object] | None = None,
    ) -> None:
        super().__init__(name=f"{info.role}-heartbeat", daemon=True)
        self.store = store
        self.info = info
        self.details: DetailsFn = details or dict
        self.on_start = on_start  # once, before the first beat, when the store answers
        self.beats = 0
        self._stop_event = threading.Event()
        self._registered = False
        self._failing = False

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self.on_start is not None:
                try:
                    self.on_start(self.store.get())
                    self.on_start = None
                except Exception as exc:  # the store down: again at the next beat
                    log.warning("agent.start_hook_failed", agent=self.info.id, error=_line(exc))
            self.beat()
            self._stop_event.wait(self.info.heartbeat_s)

    def beat(self) -> bool:
        """One heartbeat (registering first if needed); False if the store refused it."""
        try:
            store = self.store.get()
            details = self.details()
            if not (self._registered and store.agent_heartbeat(self.info.id, details)):
                store.register_agent(self.info, details)
                self._registered = True
        except Exception as exc:  # a store outage must never reach the agent's real work
            if not self._failing:
                log.warning("agent.heartbeat_failed", agent=self.info.id, error=_line(exc))
            self._failing = True
            return False
        if self._failing:
            log.info("agent.heartbeat_recovered", agent=self.info.id)
        self._failing = False
        self.beats += 1
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop beating and mark the agent stopped (best effort: the store may be down)."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout_s)
        try:
            self.store.get().stop_agent(self.info.id)
            log.info("agent.stopped", agent=self.info.id)
        except Exception as exc:
            log.warning("agent.stop_not_recorded", agent=self.info.id, error=_line(exc))


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- the worker's hooks (called from the Celery signals in filerelay.tasks.signals) -------


def start_worker_agent(app: Any, settings: Settings) -> Heartbeat:
    """Register this worker's main process and start its heartbeat thread; first, end the
    leases of its dead predecessors on this host (:func:`release_dead_predecessors`)."""
    tag = app.filerelay_runtime.owner_tag
    info = agent_info("worker", settings.heartbeat_s, queues=[settings.queue], tag=tag)
    heartbeat = Heartbeat(
        LazyStore(settings),
        info,
        details=lambda: worker_details(settings),
        on_start=lambda store: release_dead_predecessors(store, info),
    )
    heartbeat.start()
    logsink.install(settings, info.id)
    app.filerelay_agent = heartbeat
    log.debug("agent.started", agent=info.id, role="worker")
    return heartbeat


def worker_details(settings: Settings) -> JSONDict:
    """A worker's heartbeat details: its PID namespace and its resource figures."""
    paths = {"state_dir": str(settings.state_dir)}
    return {"pid_namespace": _pid_namespace(), **figures(paths, settings.config)}


#: How far back a restarted worker looks for dead predecessors on its host.
PREDECESSOR_WINDOW = timedelta(days=1)


def release_dead_predecessors(store: Store, info: AgentInfo) -> int:
    """End the leases held by workers of this host (and PID namespace) whose process is gone,
    so the reconciler re-drives their steps at its next pass instead of after their leases
    lapse; how many leases were ended.

    A worker is known dead when its pid no longer runs here. Agents of another PID namespace
    (another container sharing the host name) are left to their leases: their pids mean
    nothing here."""
    released = 0
    here = _pid_namespace()
    since = datetime.now(UTC) - PREDECESSOR_WINDOW
    for row in store.agents(since, role="worker", host=info.host):
        details = row.details or {}
        if row.id == info.id or details.get("pid_namespace") != here or _alive(row.pid):
            continue
        count = store.expire_leases_of(owner_prefix(info.host, _tag(row.id)))
        if count:
            log.warning("agent.predecessor_dead", agent=row.id, leases_released=count)
        released += count
    return released


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:  # not Linux: one namespace
        return "-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def stop_worker_agent(app: Any) -> None:
    """Mark this worker stopped (a no-op when its agent never started)."""
    heartbeat: Heartbeat | None = getattr(app, "filerelay_agent", None)
    if heartbeat is not None and heartbeat.info.pid == os.getpid():
        release_own_leases(heartbeat)
        heartbeat.stop()
        heartbeat.store.close()


def release_own_leases(heartbeat: Heartbeat) -> None:
    """End the leases this worker still holds as it stops (steps killed at the end of the
    stop window): their steps are re-driven at the next reconcile pass."""
    info = heartbeat.info
    try:
        count = heartbeat.store.get().expire_leases_of(owner_prefix(info.host, _tag(info.id)))
    except Exception as exc:  # best effort: the leases lapse anyway
        log.warning("agent.leases_not_released", agent=info.id, error=_line(exc))
        return
    if count:
        log.warning("agent.leases_released", agent=info.id, leases=count)


def _tag(agent_id: str) -> str:
    return agent_id.rsplit(":", 1)[-1]


# --- the watcher's agent: heartbeat with held counts, and the pause poller ----------------


class WatcherAgent:
    """A watcher process's link to the store, all of it off the hot path: registration and
    heartbeat (with the held count per paused source), its sources' registration, and the
    poller of the pause switch whose :attr:`holds` the publisher consults."""

    def __init__(self, settings: Settings, sources: list[Any]) -> None:
        self.settings = settings
        self.store = LazyStore(settings)
        private_dir(settings.state_dir)
        self.holds = Holds(cache=settings.state_dir / CACHE_NAME)
        self._grace_until = time.monotonic() + START_GRACE_S
        self._roots = {s.name: str(s.path) for s in sources}
        self._sources_registered = False
        info = agent_info("watcher", settings.heartbeat_s, sources=list(self._roots))
        self.heartbeat = Heartbeat(self.store, info, self._details)
        self.poller = HoldPoller(self.holds, self._paused)

    def start(self) -> WatcherAgent:
        self.heartbeat.start()
        logsink.install(self.settings, self.heartbeat.info.id)
        self.poller.start()
        log.debug("agent.started", agent=self.heartbeat.info.id, role="watcher")
        return self

    def set_sources(self, sources: list[Any]) -> None:
        """The config's sources changed: register the new ones, say so at the next beat."""
        self._roots = {s.name: str(s.path) for s in sources}
        self._sources_registered = False
        self.heartbeat.info = replace(self.heartbeat.info, sources=list(self._roots))
        self.heartbeat._registered = False  # re-register: the row's sources change

    def held(self) -> frozenset[str]:
        """Sources the publisher must skip. Until the pause switch is known (from the store or
        the cache of a previous run) every source is held, for at most ``START_GRACE_S``: a
        watcher starting must not publish files of a source an operator paused."""
        if self.holds.known or time.monotonic() > self._grace_until:
            return self.holds.paused()
        return frozenset(self._roots)

    def _paused(self) -> set[str]:
        store = self.store.get()
        if not self._sources_registered:
            for name, root in self._roots.items():
                store.register_source(name, root)
            self._sources_registered = True
        return store.paused_sources()

    def _details(self) -> JSONDict:
        paused = self.holds.paused() & frozenset(self._roots)
        held = held_counts(self.settings.state_dir, paused)
        return {
            "paused": sorted(paused),
            "held": {name: held.get(name, 0) for name in paused},
            **figures(self._roots, self.settings.config),
        }

    def stop(self) -> None:
        self.poller.stop()
        self.heartbeat.stop()
        self.store.close()
