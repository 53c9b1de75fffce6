"""The config center's use cases: push a version (to every agent, or as a canary to some),
see who runs what, promote, roll back. Written once here, called by ``filerelay config …``
and by the HTTP API; inputs are plain values, answers plain records
(:mod:`filerelay.store.fleet`).

The store never keeps a secret, so a pushed config names its secrets as ``${NAME}``
references, which each agent fills from its own environment: a literal secret is refused.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ruamel.yaml import YAML

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, parse_config_text
from filerelay.config.envsubst import references
from filerelay.config.stored import masked_config_text
from filerelay.errors import ConfigError, ConfigProblem, NotFoundError, UsageError
from filerelay.fleet.identity import parse_labels, selects
from filerelay.model import JSONDict
from filerelay.ops import open_store
from filerelay.settings import Settings
from filerelay.store.fleet import (
    ACTIVE,
    CANARY,
    PROMOTED,
    ROLLED_BACK,
    FleetStore,
    RolloutRow,
    VersionRow,
    selected,
)
from filerelay.store.rows import AgentRow
from filerelay.store.states import AgentState

#: Agents heard from within this window count in a canary's share and in ``status``.
SEEN_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Target:
    """Which agents a pushed version goes to: named ``agents``, those with ``labels``, or a
    ``canary_percent`` of the online agents (chosen by id, at least one); none of them: all."""

    agents: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    canary_percent: float | None = None


def parse_target(agents: str | None, label: str | None, canary: str | None) -> Target | None:
    """``--agents A,B`` / ``--label k=v`` / ``--canary N%`` (at most one) as a Target; None
    when none is given (every agent). UsageError on bad input."""
    given = [x for x in (agents, label, canary) if x]
    if len(given) > 1:
        raise UsageError("give one of --agents, --label and --canary")
    if agents:
        names = tuple(a.strip() for a in agents.split(",") if a.strip())
        if not names:
            raise UsageError("--agents: no agent id given")
        return Target(agents=names)
    if label:
        try:
            return Target(labels=parse_labels(label, "--label"))
        except ConfigError as exc:
            raise UsageError(str(exc.problems[0]).lstrip(": ")) from None
    if canary:
        try:
            percent = float(canary.strip().rstrip("%"))
        except ValueError:
            raise UsageError(f"--canary: {canary!r} is not a percentage (e.g. 10%)") from None
        if not 0 < percent <= 100:
            raise UsageError("--canary: give a percentage above 0 and at most 100")
        return Target(canary_percent=percent)
    return None


@dataclass(frozen=True)
class PushResult:
    """A push's answer: the version number, whether it is new, and its rollout."""

    version: int
    created: bool
    rollout: RolloutRow


def push_config(
    store: FleetStore, text: str, name: str, target: Target | None = None, note: str | None = None
) -> PushResult:
    """Keep ``text`` (from file ``name``) as a numbered version and roll it out: to every
    agent (it becomes the baseline), or as a canary to ``target``. Refused (ConfigError /
    UsageError): an invalid config, a literal secret, a canary while another is under way."""
    check_pushable(text, name)
    base, active = store.current()
    if base is None and target is not None:
        raise UsageError("no version runs on every agent yet: push the first one to all agents")
    if active is not None:
        raise UsageError(
            f"the rollout of v{active.version} is {active.state}: promote it or roll it back "
            "before pushing another version"
        )
    selector = _selector(store, target) if target is not None else None
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    version, created = store.push(sha256, text, name, note)
    state = PROMOTED if selector is None else CANARY
    return PushResult(version, created, store.start(version, selector, state))


def check_pushable(text: str, name: str) -> None:
    """The config is valid (its ``${NAME}`` references need not be set here: each agent
    fills them) and holds no literal secret."""
    env = {ref: os.environ.get(ref, "x") for ref in references(text)}
    catalog = ActionCatalog.from_registry(default_registry())
    parse_config_text(text, name, catalog, env=env, check_paths=False)
    masked = masked_config_text(text)
    if masked != text:
        raise ConfigError(secret_problems(text, masked, name))


SECRET_MESSAGE = (
    "holds literal secrets (a password, a token, a URL's user:password); the store never "
    "keeps secrets: write each as a ${NAME} reference that every agent sets in its environment"
)


def secret_problems(text: str, masked: str, name: str) -> list[ConfigProblem]:
    """Each field of ``text`` that its ``masked`` copy changed, located (file, line, dotted
    field), as a problem saying to write it as a ``${NAME}`` reference."""
    yaml = YAML(typ="rt", pure=True)
    found: list[ConfigProblem] = []

    def walk(node: Any, other: Any, path: str) -> None:
        if isinstance(node, dict):
            items: list[tuple[Any, Any]] = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            return
        for key, value in items:
            where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip(".")
            if isinstance(value, str) and value != other[key]:
                found.append(ConfigProblem(name, _line(node, key), where, SECRET_MESSAGE))
            elif not isinstance(value, str):
                walk(value, other[key], where)

    try:
        walk(yaml.load(text), yaml.load(masked), "")
    except Exception:  # the masked text always parses; this is a guard, never expected
        found = []
    return found or [ConfigProblem(name, None, "", SECRET_MESSAGE)]


def _line(node: Any, key: Any) -> int | None:
    """The 1-based line of ``node[key]`` in the text ruamel read, when it knows it."""
    lc = getattr(node, "lc", None)
    try:
        where = lc.value(key) if isinstance(node, dict) else lc.item(key)  # type: ignore[union-attr]
        return int(where[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def version_text(store: FleetStore, number: int) -> str:
    """The config text of pushed version ``number`` (NotFoundError when there is none)."""
    text = store.text(number)
    if text is None:
        raise NotFoundError(f"no config version {number} (see: GET /api/v1/fleet)")
    return text


def _selector(store: FleetStore, target: Target) -> JSONDict:
    if target.agents:
        return {"agents": sorted(target.agents)}
    if target.labels:
        return {"labels": dict(target.labels)}
    online = sorted(online_agents(store))
    if not online:
        raise UsageError("--canary: no agent is online to pick from")
    share = math.ceil(len(online) * float(target.canary_percent or 0) / 100)
    return {"agents": online[: max(1, share)]}


def online_agents(store: FleetStore, labels: dict[str, str] | None = None) -> set[str]:
    """The agent ids (hosts) with a process online, having ``labels``."""
    now = datetime.now(UTC)
    rows = store.agents(now - SEEN_WINDOW)
    return {
        r.agent
        for r in rows
        if r.agent and r.state == AgentState.ONLINE and selects(labels or {}, r.labels or {})
    }


def promote(store: FleetStore) -> RolloutRow:
    """Make the canary under way the baseline of every agent."""
    _, active = store.current()
    if active is None:
        raise UsageError("no rollout is under way: nothing to promote")
    if active.state != CANARY:
        raise UsageError(
            f"the rollout of v{active.version} is {active.state} ({active.reason}): roll it "
            "back, fix the config and push it again"
        )
    return store.start(active.version, None, PROMOTED, f"promoted from rollout {active.id}")


def rollback(store: FleetStore, version: int | None = None) -> RolloutRow:
    """Roll back: to ``version`` for every agent; without one, end the canary under way (its
    agents return to the baseline) or, with none under way, return every agent to the
    baseline before the current one."""
    base, active = store.current()
    if version is not None:
        if store.version(version) is None:
            raise UsageError(f"no config version {version} (see: filerelay config status)")
        return store.start(version, None, PROMOTED, "rollback")
    if active is not None:
        store.transition(active.id, ROLLED_BACK, ACTIVE)
        return next(r for r in store.rollouts() if r.id == active.id)
    previous = _previous_baseline(store, base)
    if previous is None:
        raise UsageError("no earlier version to roll back to")
    return store.start(previous, None, PROMOTED, "rollback")


def _previous_baseline(store: FleetStore, base: RolloutRow | None) -> int | None:
    if base is None:
        return None
    for row in store.rollouts(limit=1000):  # newest first
        earlier = row.id < base.id and row.selector is None and row.version != base.version
        if earlier and row.state in (PROMOTED, ROLLED_BACK):
            return row.version
    return None


@dataclass(frozen=True)
class AgentConfig:
    """One host of the fleet: its processes, labels, the version it must run and the one it
    reports running (or refused)."""

    agent: str
    labels: dict[str, str]
    roles: list[str]
    state: str
    assigned: int | None
    running: int | None
    refused: JSONDict | None


@dataclass(frozen=True)
class FleetStatus:
    """``config status``: versions, the baseline, the rollout under way, and each agent."""

    versions: list[VersionRow]
    baseline: RolloutRow | None
    active: RolloutRow | None
    agents: list[AgentConfig]

    def to_json(self) -> JSONDict:
        """Plain JSON-ready data (the CLI's ``--json``, the API's answer)."""
        return asdict(self)


def fleet_status(store: FleetStore) -> FleetStatus:
    """Which agent runs which version, and the rollout's state."""
    base, active = store.current()
    now = datetime.now(UTC)
    hosts: dict[str, list[AgentRow]] = {}
    for row in store.agents(now - SEEN_WINDOW):
        if row.agent:
            hosts.setdefault(row.agent, []).append(row)
    agents = []
    for agent, rows in sorted(hosts.items()):
        labels = rows[0].labels or {}
        chosen = active if active and selected(active.selector, agent, labels) else base
        config = _reported_config(rows)
        states = {str(r.state) for r in rows}
        agents.append(
            AgentConfig(
                agent=agent,
                labels=labels,
                roles=sorted({r.role for r in rows}),
                state="online" if "online" in states else sorted(states)[0],
                assigned=chosen.version if chosen else None,
                running=config.get("version"),
                refused=config.get("refused"),
            )
        )
    return FleetStatus(store.versions(), base, active, agents)


def _reported_config(rows: list[AgentRow]) -> JSONDict:
    """The config state a host's processes report (the newest heartbeat that has one)."""
    for row in rows:  # newest heartbeat first
        config = (row.details or {}).get("config")
        if isinstance(config, dict):
            return config
    return {}


def list_agents(
    store: FleetStore, labels: dict[str, str] | None = None, role: str | None = None
) -> list[AgentRow]:
    """``agents list``: the agent processes seen within the last hour, those with ``labels``
    (and ``role``) only, newest heartbeat first."""
    now = datetime.now(UTC)
    rows = store.agents(now - SEEN_WINDOW, role)
    return [r for r in rows if selects(labels or {}, r.labels or {})]


def open_fleet(settings: Settings) -> FleetStore:
    """The config center on these settings' store (schema checked; the operator's default
    SQLite store must exist, as for every operator command)."""
    return FleetStore(open_store(settings, existing=True).engine)
