"""Parsing what an operator types: state names, ``--since 2h`` or a timestamp, event ids.

Every bad value raises :class:`~filerelay.errors.UsageError` with one line that says what
was expected, so the CLI exits 2 without a traceback.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from filerelay.errors import UsageError
from filerelay.model import EventState
from filerelay.units import parse_duration

EVENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
STATES = [s.value for s in EventState if s is not EventState.DETECTED]
FINISHED_STATES = ["succeeded", "failed", "duplicate", "vanished", "skipped"]


def parse_state(value: str | None, allowed: list[str] | None = None) -> str | None:
    """A known event state, or None for no filter."""
    if value is None:
        return None
    allowed = allowed or STATES
    if value not in allowed:
        raise UsageError(f"unknown state {value!r} (one of: {', '.join(allowed)})")
    return value


def parse_time(value: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """``2h``/``30m``/``7d`` ago, or an ISO 8601 timestamp (local time when it has no zone)."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"{option}: cannot parse {value!r} (use a duration like 30m, 2h, 7d or a "
            "timestamp like 2026-11-28T10:00)"
        ) from None
    return (moment if moment.tzinfo else moment.astimezone()).astimezone(UTC)


def parse_age(value: str, option: str) -> timedelta:
    """A positive duration like ``30d``."""
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise UsageError(f"{option}: cannot parse {value!r} (use e.g. 12h, 30d, 2w)") from None
    if seconds <= 0:
        raise UsageError(f"{option}: must be more than 0, got {value!r}")
    return timedelta(seconds=seconds)


def parse_limit(value: int, maximum: int = 10_000) -> int:
    if not 1 <= value <= maximum:
        raise UsageError(f"--limit must be between 1 and {maximum}, got {value}")
    return value


def is_event_id(value: str) -> bool:
    """Whether ``value`` has the shape of an event id (32 lowercase hex digits)."""
    return EVENT_ID_RE.match(value) is not None
