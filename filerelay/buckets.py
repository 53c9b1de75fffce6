"""The fixed latency buckets of the rollups (shared by the store, which fills them, and the
config, whose SLO latency limits must be one of their bounds)."""

from __future__ import annotations

_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
#: Upper bounds (seconds) of the latency buckets, 1 ms to 8e5 s; above: 'inf'.
LATENCY_BOUNDS: tuple[float, ...] = tuple(
    round(m * 10.0**e, 6) for e in range(-3, 6) for m in _MANTISSAS
)
