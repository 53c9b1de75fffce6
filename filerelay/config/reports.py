"""The ``slos:`` and ``reports:`` sections, and the ``anomaly`` and ``slo_burn`` alert rules.

::

    slos:
      - name: video-fast
        route: video
        objective: 0.99          # 99 % of the route's files ...
        latency: 60s             # ... delivered within 60 s (leave out: success rate)
        window: 30d
    reports:
      link: "https://filerelay.example/console/reports"
      pricing:
        storage_gb_month: {STANDARD: 0.023, STANDARD_IA: 0.0125}
        requests_per_1000: 0.005
      tiering: {after_days: 30, from_class: STANDARD, to_class: STANDARD_IA}
      schedule:
        - name: daily-ops
          period: day
          at: "07:30"
          timezone: Asia/Shanghai
          channels: [ops-chat, oncall-mail]
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from filerelay.buckets import LATENCY_BOUNDS
from filerelay.config.alerts import NAME_PATTERN, Strict
from filerelay.config.types import DurationS


class SloConfig(Strict):
    """A service level objective: the share of files (of a route or source) that succeed —
    within ``latency`` when given — over a rolling ``window``."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique SLO name.")
    route: str | None = Field(None, description="Only this route's files (else every file).")
    source: str | None = Field(None, description="Only this source's files.")
    objective: float = Field(gt=0, lt=1, description="Target good share, e.g. 0.99.")
    latency: DurationS | None = Field(
        None,
        gt=0,
        description="A good file is delivered within this (detected to finished); one of "
        "the rollup bucket bounds: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k s. Leave "
        "out for a success-rate objective.",
    )
    window: DurationS = Field(30 * 86400.0, ge=3600, description="Rolling window, e.g. 30d.")

    @field_validator("latency")
    @classmethod
    def _on_a_bound(cls, value: float | None) -> float | None:
        if value is None or any(abs(value - b) < 1e-9 for b in LATENCY_BOUNDS):
            return value
        below = max((b for b in LATENCY_BOUNDS if b < value), default=LATENCY_BOUNDS[0])
        above = min((b for b in LATENCY_BOUNDS if b > value), default=LATENCY_BOUNDS[-1])
        raise ValueError(f"latency {value:g}s is not a bucket bound; use {below:g}s or {above:g}s")


class Pricing(Strict):
    """Storage prices for the cost estimate."""

    storage_gb_month: dict[str, float] = Field(
        {"STANDARD": 0.023}, description="Price per GB-month by storage class."
    )
    requests_per_1000: float = Field(0.005, ge=0, description="Price per 1,000 PUT requests.")
    storage_class: str = Field("STANDARD", description="The class new uploads are stored in.")


class Tiering(Strict):
    """Storage-class advice: objects older than ``after_days`` moved to ``to_class``."""

    after_days: int = Field(30, ge=1, description="Age after which objects would move.")
    from_class: str = Field("STANDARD", description="Class they are in.")
    to_class: str = Field("STANDARD_IA", description="Class they would move to.")


class ScheduledReport(Strict):
    """A report sent on a schedule by the alert evaluator."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique schedule name.")
    period: Literal["day", "week", "month"] = Field("day", description="Period the report covers.")
    at: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time HH:MM.")
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        "mon", description="Day of a weekly report."
    )
    timezone: str = Field("UTC", description="IANA time zone of 'at', e.g. Asia/Shanghai.")
    channels: list[str] = Field(min_length=1, description="Alert channels (names) to send to.")
    sources: list[str] = Field([], description="Only these sources.")
    routes: list[str] = Field([], description="Only these routes.")
    email: Literal["attach", "inline"] = Field(
        "attach", description="E-mail channels: the HTML report attached or as the body."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ReportsConfig(Strict):
    """Reports: prices, tiering advice, a link for chat summaries, scheduled sends."""

    link: str | None = Field(None, description="URL of the reports page, put in chat summaries.")
    pricing: Pricing = Field(Pricing(), description="Storage prices for the cost estimate.")
    tiering: Tiering = Field(Tiering(), description="Storage-class advice.")
    schedule: list[ScheduledReport] = Field([], description="Reports sent on a schedule.")
