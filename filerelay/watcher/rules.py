"""The settings of the stability detector per source, and what it reports (pure data)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from filerelay.model import StableSignal
from filerelay.watcher.filters import ReadyMarker


@dataclass(frozen=True)
class StabilityRules:
    """The per-source settings of the detector, in seconds."""

    silence_s: float = 2.0
    stable_when: str = "close"
    open_timeout_s: float = 3600.0
    ready_marker: ReadyMarker | None = None

    @classmethod
    def from_source(cls, source: Any) -> StabilityRules:
        """Rules from a ``filerelay.config.models.Source``."""
        return cls(
            silence_s=float(source.silence),
            stable_when=source.stable_when,
            open_timeout_s=float(source.open_timeout),
            ready_marker=ReadyMarker(source.ready_marker) if source.ready_marker else None,
        )

    @property
    def recheck_s(self) -> float:
        """How soon a quiet file held back (open writer, no marker yet) is looked at again."""
        return min(max(self.silence_s, 0.25), 5.0)


@dataclass(frozen=True, slots=True)
class StableFile:
    """A file the detector declared completely written."""

    path: str
    stat: os.stat_result
    signal: StableSignal
    pending_since: float
