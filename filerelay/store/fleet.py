"""The config center's tables: numbered config versions and their rollouts.

A version is a pushed config text (kept in ``routing_configs`` under its SHA-256, like every
loaded version) with a number. A rollout assigns a version to agents: the newest
``promoted`` rollout is the *baseline* every agent runs; a newer ``canary`` (or ``stopped``)
rollout assigns its version to the agents its selector picks. :meth:`FleetStore.assigned`
answers, in one read, which version an agent must run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import RowMapping

from filerelay.model import JSONDict
from filerelay.store import agents as agent_rows
from filerelay.store import configs
from filerelay.store.access import Transactions, translated
from filerelay.store.db import as_utc, utcnow
from filerelay.store.rows import AgentRow, Row
from filerelay.store.schema import config_rollouts, config_versions, routing_configs

CANARY = "canary"
STOPPED = "stopped"
PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"
#: A rollout in one of these states is under way: it must be promoted or rolled back.
ACTIVE = (CANARY, STOPPED)


@dataclass(frozen=True, slots=True)
class VersionRow(Row):
    """One pushed config version."""

    version: int
    sha256: str
    note: str | None
    created_at: Any


@dataclass(frozen=True, slots=True)
class RolloutRow(Row):
    """One rollout of a version (``selector`` None: every agent)."""

    id: int
    version: int
    selector: JSONDict | None
    state: str
    reason: str | None
    created_at: Any
    updated_at: Any


@dataclass(frozen=True)
class Assignment:
    """The version an agent must run, with its text."""

    version: int
    sha256: str
    text: str


def selected(selector: Mapping[str, Any] | None, agent: str, labels: Mapping[str, str]) -> bool:
    """Whether a rollout's selector picks this agent (None picks every agent)."""
    if selector is None:
        return True
    if "agents" in selector:
        return agent in selector["agents"]
    wanted = selector.get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _rollout(row: RowMapping | None) -> RolloutRow | None:
    return RolloutRow.of(row) if row is not None else None


def _baseline(conn: Connection) -> RolloutRow | None:
    query = select(config_rollouts).where(config_rollouts.c.state == PROMOTED)
    return _rollout(conn.execute(query.order_by(config_rollouts.c.id.desc())).mappings().first())


def _active(conn: Connection) -> RolloutRow | None:
    query = select(config_rollouts).where(config_rollouts.c.state.in_(ACTIVE))
    row = _rollout(conn.execute(query.order_by(config_rollouts.c.id.desc())).mappings().first())
    base = _baseline(conn)
    return row if row is not None and (base is None or row.id > base.id) else None


class FleetStore(Transactions):
    """The config center's queries on one metadata database."""

    @translated
    def push(self, sha256: str, text: str, path: str | None, note: str | None) -> tuple[int, bool]:
        """Keep ``text`` as a numbered version; ``(version, created)`` — an identical text
        pushed before keeps its number."""
        with self._write() as conn:
            found = conn.execute(
                select(config_versions.c.version).where(config_versions.c.sha256 == sha256)
            ).scalar()
            if found is not None:
                return int(found), False
            now = utcnow()
            configs.save(conn, sha256, text, path, now)
            done = conn.execute(
                insert(config_versions).values(sha256=sha256, note=note, created_at=now)
            )
            return int(done.inserted_primary_key[0]), True  # type: ignore[index]

    @translated
    def versions(self) -> list[VersionRow]:
        """Every pushed version, oldest first."""
        with self._read() as conn:
            query = select(config_versions).order_by(config_versions.c.version)
            return [VersionRow.of(r) for r in conn.execute(query).mappings()]

    @translated
    def version(self, number: int) -> VersionRow | None:
        """One version, or None."""
        with self._read() as conn:
            query = select(config_versions).where(config_versions.c.version == number)
            row = conn.execute(query).mappings().first()
            return VersionRow.of(row) if row is not None else None

    @translated
    def text(self, number: int) -> str | None:
        """The config text of version ``number``, or None."""
        with self._read() as conn:
            query = (
                select(routing_configs.c.text)
                .select_from(
                    config_versions.join(
                        routing_configs, routing_configs.c.sha256 == config_versions.c.sha256
                    )
                )
                .where(config_versions.c.version == number)
            )
            found = conn.execute(query).scalar()
            return None if found is None else str(found)

    @translated
    def rollouts(self, limit: int = 20) -> list[RolloutRow]:
        """The newest rollouts, newest first."""
        with self._read() as conn:
            query = select(config_rollouts).order_by(config_rollouts.c.id.desc()).limit(limit)
            return [RolloutRow.of(r) for r in conn.execute(query).mappings()]

    @translated
    def current(self) -> tuple[RolloutRow | None, RolloutRow | None]:
        """``(baseline, active)``: the newest promoted rollout, and the canary under way."""
        with self._read() as conn:
            return _baseline(conn), _active(conn)

    @translated
    def start(
        self, version: int, selector: JSONDict | None, state: str, reason: str | None = None
    ) -> RolloutRow:
        """Record a rollout of ``version``; a promoted one ends the canary under way (as
        ``rolled_back``: the new baseline replaces it)."""
        now = utcnow()
        with self._write() as conn:
            if state == PROMOTED:
                conn.execute(
                    update(config_rollouts)
                    .where(config_rollouts.c.state.in_(ACTIVE))
                    .values(state=ROLLED_BACK, updated_at=now)
                )
            values = dict(version=version, selector=selector, state=state, reason=reason)
            done = conn.execute(
                insert(config_rollouts).values(**values, created_at=now, updated_at=now)
            )
            rid = int(done.inserted_primary_key[0])  # type: ignore[index]
            row = conn.execute(select(config_rollouts).where(config_rollouts.c.id == rid))
            return RolloutRow.of(row.mappings().one())

    @translated
    def transition(
        self, rollout_id: int, to: str, from_states: tuple[str, ...], reason: str | None = None
    ) -> bool:
        """Move a rollout to ``to`` if it is in ``from_states`` (atomic); False otherwise."""
        values: dict[str, Any] = {"state": to, "updated_at": utcnow()}
        if reason is not None:
            values["reason"] = reason
        with self._write() as conn:
            done = conn.execute(
                update(config_rollouts)
                .where(config_rollouts.c.id == rollout_id)
                .where(config_rollouts.c.state.in_(from_states))
                .values(**values)
            )
            return done.rowcount == 1

    @translated
    def note_refusal(self, version: int, reason: str) -> RolloutRow | None:
        """An agent refused ``version``: the canary of it under way stops (it widens no
        further); a baseline of it keeps the reason. The rollout changed, or None."""
        now = utcnow()
        with self._write() as conn:
            for row in (_active(conn), _baseline(conn)):
                if row is None or row.version != version:
                    continue
                state = STOPPED if row.state in ACTIVE else row.state
                conn.execute(
                    update(config_rollouts)
                    .where(config_rollouts.c.id == row.id)
                    .values(state=state, reason=reason, updated_at=now)
                )
                return RolloutRow.of(
                    conn.execute(select(config_rollouts).where(config_rollouts.c.id == row.id))
                    .mappings()
                    .one()
                )
        return None

    @translated
    def assigned(self, agent: str, labels: Mapping[str, str]) -> Assignment | None:
        """The version ``agent`` must run: the canary's if it selects the agent, else the
        baseline's; None before any version was promoted."""
        with self._read() as conn:
            base, active = _baseline(conn), _active(conn)
            chosen = active if active and selected(active.selector, agent, labels) else base
            if chosen is None:
                return None
            query = (
                select(config_versions.c.sha256, routing_configs.c.text)
                .join(routing_configs, routing_configs.c.sha256 == config_versions.c.sha256)
                .where(config_versions.c.version == chosen.version)
            )
            row = conn.execute(query).first()
            if row is None:
                return None
            return Assignment(chosen.version, str(row[0]), str(row[1]))

    @translated
    def agents(self, seen_since: datetime, role: str | None = None) -> list[AgentRow]:
        """Agent processes heard from since ``seen_since``, each with its state now."""
        with self._read() as conn:
            return agent_rows.rows(conn, utcnow(), as_utc(seen_since), role)
