"""The config center's agent: an agent started with ``--config store`` runs the config
version the store assigns it.

At start (:func:`resolve_store_config`) and then every ``FILERELAY_FLEET_POLL_S`` (the
:class:`ConfigPuller` thread) the agent asks the store which version it must run
(:meth:`~filerelay.store.fleet.FleetStore.assigned`). A new version is validated here, with
this host's environment (and, for a watcher, its source paths); a valid one is written to
``<state_dir>/fleet/config.yaml``, the file the process runs — its own reload of a changed
file does the switch, and pipelines keep the version they started with. An invalid one is
refused: this agent keeps its version, the refusal is recorded on the rollout (a canary
stops there) and shown in the agent's heartbeat. A store outage changes nothing: the agent
runs its last good version, from the file, also across a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, parse_config_text
from filerelay.errors import ConfigError
from filerelay.fleet.identity import (
    FLEET_DIR,
    STATE_FILE,
    FleetIdentity,
    read_state,
)
from filerelay.model import JSONDict
from filerelay.settings import Settings
from filerelay.statedir import private_dir
from filerelay.store import make_engine
from filerelay.store.fleet import Assignment, FleetStore

log = structlog.get_logger("filerelay.fleet")


@dataclass
class Outcome:
    """What one look at the assignment did: ``switched`` to a version, ``refused`` one, or
    neither (up to date, nothing assigned, or the store unreachable: ``error``)."""

    switched: int | None = None
    refused: int | None = None
    error: str | None = None


class ConfigAgent:
    """Pulls, validates, writes and reports the assigned config version of one host."""

    def __init__(self, settings: Settings, *, check_paths: bool, store: FleetStore | None = None):
        self.settings = settings
        self.identity = FleetIdentity.of(settings)
        self.check_paths = check_paths
        self.path = settings.store_config_path()
        self._store = store

    @property
    def store(self) -> FleetStore:
        if self._store is None:
            self._store = FleetStore(make_engine(self.settings.resolved_database_url()))
        return self._store

    def state(self) -> JSONDict:
        """What this host runs and refused (``<state_dir>/fleet/config-state.json``)."""
        return read_state(self.settings.state_dir)

    def pull(self) -> Outcome:
        """Ask the store once; switch to a new valid version, or refuse an invalid one."""
        try:
            assignment = self.store.assigned(self.identity.agent, self.identity.labels)
        except Exception as exc:  # the store down: the last good version goes on
            return Outcome(error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        state = self.state()
        if assignment is None:
            return Outcome()
        if assignment.version == state.get("version"):
            if state.get("refused"):  # the refused version is no longer assigned: forget it
                self._save_state({k: v for k, v in state.items() if k != "refused"})
            return Outcome()
        if assignment.version == (state.get("refused") or {}).get("version"):
            return Outcome()  # refused once: refused until another version is assigned
        problems = self.validate(assignment)
        if problems:
            self.refuse(assignment, problems, state)
            return Outcome(refused=assignment.version)
        self.write(assignment)
        return Outcome(switched=assignment.version)

    def validate(self, assignment: Assignment) -> list[str]:
        """The problems of the assigned text here (empty: valid)."""
        if hashlib.sha256(assignment.text.encode()).hexdigest() != assignment.sha256:
            return ["the stored text does not match its SHA-256 (masked secrets?)"]
        catalog = ActionCatalog.from_registry(default_registry())
        name = f"store:v{assignment.version}"
        try:
            parse_config_text(assignment.text, name, catalog, check_paths=self.check_paths)
        except ConfigError as exc:
            return [str(p).lstrip(": ") for p in exc.problems]
        except Exception as exc:  # a hostile or broken text is refused, never a crash
            return [f"cannot load: {type(exc).__name__}: {exc}"]
        return []

    def write(self, assignment: Assignment) -> None:
        """Make ``assignment`` the version this host runs (atomic, fsynced)."""
        private_dir(self.settings.state_dir / FLEET_DIR)
        _write_atomic(self.path, assignment.text)
        self._save_state({"version": assignment.version, "sha256": assignment.sha256})
        log.info("config_version_switched", version=assignment.version, agent=self.identity.agent)

    def refuse(self, assignment: Assignment, problems: list[str], state: JSONDict) -> None:
        """Keep the current version; record the refusal here and on the rollout."""
        refused = {"version": assignment.version, "problems": problems[:5]}
        self._save_state({**state, "refused": refused})
        reason = f"agent {self.identity.agent} refused v{assignment.version}: {problems[0]}"
        log.error(
            "config_version_refused",
            version=assignment.version,
            agent=self.identity.agent,
            problems=problems,
        )
        try:
            self.store.note_refusal(assignment.version, reason)
        except Exception as exc:  # shown in the heartbeat anyway
            log.warning("config_refusal_not_recorded", error=str(exc).splitlines()[0])

    def _save_state(self, state: JSONDict) -> None:
        folder = private_dir(self.settings.state_dir / FLEET_DIR)
        _write_atomic(folder / STATE_FILE, json.dumps(state))

    def close(self) -> None:
        if self._store is not None:
            self._store.engine.dispose()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def resolve_store_config(settings: Settings, *, check_paths: bool) -> Path:
    """``--config store`` at start: pull the assigned version (or keep the last good one when
    the store cannot answer), point ``settings.config`` at its file, start the
    :class:`ConfigPuller`, and return the file. A ConfigError when there is no version to
    run at all."""
    agent = ConfigAgent(settings, check_paths=check_paths)
    outcome = agent.pull()
    if outcome.error:
        log.warning("config_store_unreachable", error=outcome.error, using=str(agent.path))
    if not agent.path.exists():
        why = outcome.error or "no version was assigned to it (push one: filerelay config push)"
        refused = agent.state().get("refused")
        if refused:
            why = f"it refused v{refused['version']}: {refused['problems'][0]}"
        raise ConfigError(
            f"--config store: agent {agent.identity.agent} has no config version to run: {why}"
        )
    settings.config = agent.path
    ConfigPuller(agent, settings.fleet_poll_s).start()
    return agent.path


class ConfigPuller(threading.Thread):
    """Looks at the assignment every ``interval_s`` in a daemon thread of the process."""

    def __init__(self, agent: ConfigAgent, interval_s: float) -> None:
        super().__init__(name="config-puller", daemon=True)
        self.agent = agent
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self._failing = False

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            outcome = self.agent.pull()
            if outcome.error and not self._failing:
                log.warning("config_store_unreachable", error=outcome.error)
            elif not outcome.error and self._failing:
                log.info("config_store_reachable")
            self._failing = outcome.error is not None
