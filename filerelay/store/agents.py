"""Queries on ``agents``: registration, heartbeats and clean stops of watchers and workers.

An agent is *online* while its last heartbeat is younger than :data:`MISSED_HEARTBEATS` of
its own heartbeat intervals, *offline* after that (it was killed, or its host or network is
gone), and *stopped* once it stopped cleanly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import RowMapping

from filerelay.model import JSONDict
from filerelay.store.rows import AgentRow
from filerelay.store.schema import agents
from filerelay.store.states import AgentState

MISSED_HEARTBEATS = 3


@dataclass(frozen=True)
class AgentInfo:
    """What an agent says about itself when it registers."""

    id: str
    role: str
    host: str
    pid: int
    version: str
    heartbeat_s: float
    sources: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    agent: str | None = None  # the host's agent id in a fleet (FILERELAY_AGENT_ID)
    labels: dict[str, str] = field(default_factory=dict)


def register(conn: Connection, info: AgentInfo, now: datetime, details: JSONDict) -> None:
    """Insert the agent, or refresh it when the same id registers again."""
    values: dict[str, Any] = {
        "role": info.role,
        "host": info.host,
        "pid": info.pid,
        "version": info.version,
        "sources": list(info.sources),
        "queues": list(info.queues),
        "agent": info.agent,
        "labels": dict(info.labels),
        "heartbeat_s": info.heartbeat_s,
        "details": details,
        "last_heartbeat_at": now,
        "stopped_at": None,
    }
    found = conn.execute(select(agents.c.id).where(agents.c.id == info.id)).first()
    if found is None:
        conn.execute(insert(agents).values(id=info.id, started_at=now, **values))
    else:
        conn.execute(update(agents).where(agents.c.id == info.id).values(**values))


def heartbeat(conn: Connection, agent_id: str, now: datetime, details: JSONDict) -> bool:
    """Record a heartbeat; False when the agent is not registered (register it again)."""
    done = conn.execute(
        update(agents)
        .where(agents.c.id == agent_id)
        .values(last_heartbeat_at=now, details=details, stopped_at=None)
    )
    return done.rowcount == 1


def stop(conn: Connection, agent_id: str, now: datetime) -> bool:
    """Mark a clean stop."""
    done = conn.execute(
        update(agents).where(agents.c.id == agent_id).values(stopped_at=now, last_heartbeat_at=now)
    )
    return done.rowcount == 1


def state_of(row: Mapping[str, Any] | RowMapping, now: datetime) -> AgentState:
    """``online``, ``offline`` or ``stopped`` at ``now``."""
    if row["stopped_at"] is not None:
        return AgentState.STOPPED
    silent = timedelta(seconds=MISSED_HEARTBEATS * float(row["heartbeat_s"]))
    return AgentState.ONLINE if now - row["last_heartbeat_at"] <= silent else AgentState.OFFLINE


def rows(
    conn: Connection,
    now: datetime,
    seen_since: datetime,
    role: str | None = None,
    host: str | None = None,
) -> list[AgentRow]:
    """Agents heard from since ``seen_since``, newest heartbeat first, each with ``state``."""
    query = select(agents).where(agents.c.last_heartbeat_at >= seen_since)
    if role is not None:
        query = query.where(agents.c.role == role)
    if host is not None:
        query = query.where(agents.c.host == host)
    query = query.order_by(agents.c.last_heartbeat_at.desc(), agents.c.id)
    return [AgentRow.of(r, state=state_of(r, now)) for r in conn.execute(query).mappings()]
