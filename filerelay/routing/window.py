"""Time-of-day windows: is ``now`` inside, and when does the window next open."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from filerelay.config.models import TimeWindow, parse_window


def in_window(window: TimeWindow, now: datetime) -> bool:
    start, end = parse_window(window.between)
    local = now.astimezone(ZoneInfo(window.tz)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps past midnight (end 00:00 = midnight)


def next_opening(window: TimeWindow, now: datetime) -> datetime:
    """The next instant (aware, UTC) at which the window opens; ``now`` if it is open."""
    if in_window(window, now):
        return now
    zone = ZoneInfo(window.tz)
    start, _ = parse_window(window.between)
    local = now.astimezone(zone)
    candidate = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=start.hour, minute=start.minute, second=0, microsecond=0
        )
    # rebuild in the zone so a DST change between now and then gets the right offset
    naive = candidate.replace(tzinfo=None)
    return naive.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
