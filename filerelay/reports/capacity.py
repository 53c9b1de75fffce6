"""Capacity and cost: bytes uploaded per day per bucket/prefix (the ``s3`` rollups), a fitted
linear trend with its 30- and 90-day projections, a monthly cost estimate from the configured
prices, and storage-class advice.

The stored total is what filerelay uploaded (objects deleted or expired by others are not
known to it), so the figures are an upper estimate of what the buckets hold.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from filerelay.config.reports import ReportsConfig
from filerelay.reports.data import Filters, RollupReader
from filerelay.reports.stats import linear_fit

GB = 1e9
HISTORY = timedelta(days=90)
HORIZONS = (30, 90)


def _daily(reader: RollupReader, flt: Filters, now: datetime) -> dict[str, dict[str, list[float]]]:
    """``{bucket/prefix: {day: [objects, bytes]}}`` of the last 90 days."""
    rows = reader.daily(now - HISTORY, now + timedelta(hours=1), flt, ["s3"], True)
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for day, key, n, total in rows:
        cell = out[key][day]
        cell[0] += n
        cell[1] += total
    return out


def projection(days: dict[str, list[float]], now: datetime) -> dict[str, Any]:
    """Per-day trend of bytes and the bytes added in the next 30 and 90 days."""
    first = min(datetime.fromisoformat(d) for d in days)
    span = max(1, (now.date() - first.date()).days + 1)
    xs = [float(i) for i in range(span)]
    ys = [days.get((first.date() + timedelta(days=i)).isoformat(), [0, 0])[1] for i in range(span)]
    slope, intercept = linear_fit(xs, ys)
    out: dict[str, Any] = {
        "bytes_per_day": intercept + slope * (span - 1),
        "trend_bytes_per_day_per_day": slope,
    }
    for horizon in HORIZONS:
        added = sum(max(0.0, intercept + slope * (span - 1 + d)) for d in range(1, horizon + 1))
        out[f"added_next_{horizon}d_bytes"] = added
    return out


def capacity(
    reader: RollupReader, flt: Filters, config: ReportsConfig, now: datetime
) -> dict[str, Any]:
    """Per bucket/prefix: stored bytes and objects, trend and projections; cost; tiering."""
    prices = config.pricing
    price = prices.storage_gb_month.get(prices.storage_class, 0.0)
    tier = config.tiering
    old_before = now - timedelta(days=tier.after_days)
    targets = []
    for name, days in sorted(_daily(reader, flt, now).items()):
        stored = sum(v[1] for v in days.values())
        objects = sum(v[0] for v in days.values())
        old = [v for d, v in days.items() if datetime.fromisoformat(d).date() < old_before.date()]
        proj = projection(days, now)
        targets.append({
            "target": name,
            "objects": int(objects),
            "bytes": int(stored),
            **proj,
            "projected_30d_bytes": stored + proj["added_next_30d_bytes"],
            "projected_90d_bytes": stored + proj["added_next_90d_bytes"],
            "old_objects": int(sum(v[0] for v in old)),
            "old_bytes": int(sum(v[1] for v in old)),
            "monthly_cost": stored / GB * price + objects / max(1, len(days)) * 30 / 1000
            * prices.requests_per_1000,
        })  # fmt: skip
    return {
        "targets": targets,
        "monthly_cost": sum(t["monthly_cost"] for t in targets),
        "storage_class": prices.storage_class,
        "tiering": _tiering(targets, config),
    }


def _tiering(targets: list[dict[str, Any]], config: ReportsConfig) -> dict[str, Any]:
    tier, prices = config.tiering, config.pricing.storage_gb_month
    objects = sum(t["objects"] for t in targets)
    old_objects = sum(t["old_objects"] for t in targets)
    old_bytes = sum(t["old_bytes"] for t in targets)
    saving = None
    if tier.from_class in prices and tier.to_class in prices:
        saving = old_bytes / GB * (prices[tier.from_class] - prices[tier.to_class])
    return {
        "after_days": tier.after_days,
        "from_class": tier.from_class,
        "to_class": tier.to_class,
        "old_objects": old_objects,
        "old_bytes": old_bytes,
        "old_share": old_objects / objects if objects else None,
        "monthly_saving": saving,
    }
