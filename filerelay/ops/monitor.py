"""Agents and logs as the operator reads them: the agents heard from lately with their
heartbeat figures and recent errors, and the recent log records of every agent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from filerelay.errors import ConfigError, NotFoundError, UsageError
from filerelay.fleet.identity import parse_labels, selects
from filerelay.ops.deployment import Deployment
from filerelay.store.control import LogFilter
from filerelay.store.rows import AgentRow

SEEN_WITHIN = timedelta(days=1)
RECENT_ERRORS = 20
LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class AgentView:
    """An agent with the figures of its last heartbeat and, for one agent, recent errors."""

    row: AgentRow
    recent_errors: list[dict[str, Any]]


def list_agents(dep: Deployment, labels: dict[str, str] | None = None) -> list[AgentRow]:
    """Agents heard from within a day, each with its state now; with ``labels``, only the
    agents having every one of them."""
    rows = dep.store.agents(datetime.now(UTC) - SEEN_WITHIN)
    return [r for r in rows if selects(labels or {}, r.labels or {})]


def label_filter(text: str | None) -> dict[str, str] | None:
    """``k=v[,k=v]`` from operator input as labels (UsageError naming ``label``)."""
    if not text:
        return None
    try:
        return parse_labels(text, "label")
    except ConfigError as exc:
        raise UsageError(str(exc.problems[0]).lstrip(": ")) from None


def get_agent(dep: Deployment, agent_id: str) -> AgentView:
    """One agent and its recent warnings and errors."""
    for row in list_agents(dep):
        if row.id == agent_id:
            errors = dep.control.logs(LogFilter(agent=agent_id), RECENT_ERRORS)
            return AgentView(row, errors)
    raise NotFoundError(f"no agent {agent_id!r} heard from in the last day")


def log_filter(agent: str | None, level: str | None, event: str | None, q: str | None) -> LogFilter:
    """A logs filter from operator input."""
    if level is not None and level not in LEVELS:
        raise UsageError(f"level: {level!r} is not one of {', '.join(LEVELS)}")
    return LogFilter(agent or None, level, event or None, q or None)


@dataclass(frozen=True)
class LogPage:
    """Log records newest first; ``next_cursor`` None on the last page."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


def logs(dep: Deployment, flt: LogFilter, limit: int, cursor: str | None) -> LogPage:
    """A page of log records matching ``flt`` (cursor: from the previous page)."""
    before = None
    if cursor:
        if not cursor.isdigit():
            raise UsageError(f"cursor: not a cursor from a previous page: {cursor!r}")
        before = int(cursor)
    rows = dep.control.logs(flt, limit + 1, before_id=before)
    more = len(rows) > limit
    rows = rows[:limit]
    return LogPage(rows, str(rows[-1]["id"]) if more and rows else None)
