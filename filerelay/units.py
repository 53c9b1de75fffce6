"""Human units in YAML (``2s``, ``5m``, ``64MiB``, ``>=1MiB``) parsed in one place."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``1.5``, ``"500ms"``, ``"2s"``, ``"5m"``, ``"1h"``, ``"7d"``."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"not a duration: {value!r} (a duration must be finite)")
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return float(value)
    match = _DURATION_RE.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 2s, 5m, 1h, 7d)")
    number, unit = match.groups()
    seconds = float(number) * _DURATION_UNITS[(unit or "s").lower()]
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {value!r} (a duration must be finite)")
    return seconds


def parse_size(value: str | int) -> int:
    """Bytes from ``4096``, ``"4KiB"``, ``"64MiB"``, ``"1GB"`` (SI and IEC units)."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative: {value!r}")
        return value
    match = _SIZE_RE.match(value)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"not a size: {value!r} (use e.g. 4096, 4KiB, 64MiB, 1GB)")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class SizeRange:
    """A half-open or closed byte range from ``">=1MiB"``, ``"<10GB"``, ``"1MiB..10MiB"``."""

    min_bytes: int | None = None
    max_bytes: int | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    def describe(self) -> str:
        """``>=1048576 and <2048``, for messages."""
        parts = []
        if self.min_bytes is not None:
            parts.append(f"{'>=' if self.min_inclusive else '>'}{self.min_bytes}")
        if self.max_bytes is not None:
            parts.append(f"{'<=' if self.max_inclusive else '<'}{self.max_bytes}")
        return " and ".join(parts) or "any"

    def contains(self, size: int) -> bool:
        low, high = self.min_bytes, self.max_bytes
        if low is not None and (size < low or (size == low and not self.min_inclusive)):
            return False
        return not (high is not None and (size > high or (size == high and not self.max_inclusive)))


def parse_size_range(value: str | int) -> SizeRange:
    """Parse a size condition; a bare size means exactly that many bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return SizeRange(value, value)
    text = str(value).strip()
    if ".." in text:
        low, high = text.split("..", 1)
        return SizeRange(parse_size(low), parse_size(high))
    for op in (">=", "<=", ">", "<", "=="):
        if text.startswith(op):
            size = parse_size(text[len(op) :])
            if op == ">=":
                return SizeRange(min_bytes=size)
            if op == ">":
                return SizeRange(min_bytes=size, min_inclusive=False)
            if op == "<=":
                return SizeRange(max_bytes=size)
            if op == "<":
                return SizeRange(max_bytes=size, max_inclusive=False)
            return SizeRange(size, size)
    try:
        size = parse_size(text)
    except ValueError:
        raise ValueError(
            f"not a size condition: {value!r} (use e.g. '>=1MiB', '<10GB', '1MiB..10MiB')"
        ) from None
    return SizeRange(size, size)
