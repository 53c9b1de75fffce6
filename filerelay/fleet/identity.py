"""Who this host is in a fleet: its agent id and labels, and the names of its queues.

The agent id names a *host* (a watcher and the workers that can see its files), not a
process: ``FILERELAY_AGENT_ID``, or the host name. Every event carries its watcher's agent
id; a step that reads or changes the file goes to that host's queue
(:func:`host_queue`), any other step to the shared queue.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from filerelay.errors import ConfigError
from filerelay.model import JSONDict
from filerelay.settings import Settings

#: What an agent id may hold: it is part of a queue name and of a file name (embedded broker).
AGENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.\-/]{0,63}$")

HOST_QUEUE_INFIX = ".host."


def default_agent_id(hostname: str | None = None) -> str:
    """The host name, cut at its first dot and made queue-safe (``web-1.example`` → ``web-1``)."""
    name = (hostname or socket.gethostname()).split(".", 1)[0]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip("-_.")[:63]
    return safe or "localhost"


def agent_id(settings: Settings) -> str:
    """This host's agent id (``FILERELAY_AGENT_ID``, validated by the settings, or the host
    name)."""
    return settings.agent_id or default_agent_id()


def parse_labels(text: str, what: str = "FILERELAY_AGENT_LABELS") -> dict[str, str]:
    """``site=sh,role=camera`` → ``{"site": "sh", "role": "camera"}``; a ConfigError naming
    ``what`` and the bad item otherwise."""
    labels: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise ConfigError(
                f"{what}: {item!r} is not a label; write key=value pairs separated by commas "
                "(letters, digits, '_', '.', '-', '/')"
            )
        labels[key] = value
    return labels


def agent_labels(settings: Settings) -> dict[str, str]:
    """This host's labels (``FILERELAY_AGENT_LABELS``)."""
    return parse_labels(settings.agent_labels)


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """True when ``labels`` hold every ``key=value`` of ``selector`` (an empty selector
    selects everything)."""
    return all(labels.get(key) == value for key, value in selector.items())


def host_queue(shared_queue: str, agent: str) -> str:
    """The queue of one host's file steps: ``filerelay.host.<agent>`` for the shared queue
    ``filerelay``."""
    return f"{shared_queue}{HOST_QUEUE_INFIX}{agent}"


def queue_for(shared_queue: str, agent: str | None) -> str:
    """Where a message bound to ``agent`` goes: that host's queue, or the shared queue when it
    is bound to no host (``None`` or ``""``: a step that never touches the file, an event of
    a shared source or of a watcher older than the fleet)."""
    return host_queue(shared_queue, agent) if agent else shared_queue


def worker_queues(settings: Settings) -> list[str]:
    """What ``filerelay worker`` consumes: its host's queue and the shared queue."""
    return [host_queue(settings.queue, agent_id(settings)), settings.queue]


@dataclass(frozen=True)
class FleetIdentity:
    """This host in the fleet: its agent id, labels, and where the config center's agent
    keeps its state (the version it runs, the one it refused: reported in each heartbeat)."""

    agent: str
    labels: dict[str, str]
    state_dir: Path
    from_store: bool = False

    @classmethod
    def of(cls, settings: Settings) -> FleetIdentity:
        """The identity these settings give (labels validated: a ConfigError otherwise)."""
        return cls(
            agent_id(settings),
            agent_labels(settings),
            settings.state_dir,
            settings.config_from_store,
        )

    def details(self) -> JSONDict:
        """What a heartbeat adds: ``{"config": {...}}`` with the config center's version this
        host runs (and the one it refused, with why), when it takes its config from the
        store; nothing otherwise."""
        if not self.from_store:
            return {}
        state = read_state(self.state_dir)
        return {"config": state} if state else {}


#: Under the state dir: the last good config version pulled from the store, and its state.
FLEET_DIR = "fleet"
CONFIG_FILE = "config.yaml"
STATE_FILE = "config-state.json"


def read_state(state_dir: Path) -> JSONDict:
    """The config center's state on this host (``{}`` when there is none or it is unreadable:
    a heartbeat never fails for it)."""
    try:
        data = json.loads((state_dir / FLEET_DIR / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
