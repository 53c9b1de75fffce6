"""Results: one :class:`Result` per scenario, its statistics, ``latest.json`` and the Markdown
table.

Every ratio is ``value / baseline``. ``better`` says which way is good for the scenario, and
``target`` applies to the ratio or to the value itself, as ``target_on`` says; ``milestone``,
when given, is a nearer step on the way to the target, printed beside it (``met`` is judged on
the target).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Stats:
    median: float
    min: float
    max: float
    runs: int

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        if not values:
            raise ValueError("no measurements")
        return cls(statistics.median(values), min(values), max(values), len(values))


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


@dataclass
class Result:
    """One scenario's line: filerelay's median against the baseline's, in one run."""

    scenario: str
    unit: str
    value: Stats | None
    baseline: Stats | None
    baseline_name: str
    target: float
    target_on: Literal["ratio", "value"] = "ratio"
    better: Literal["higher", "lower"] = "higher"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    milestone: float | None = None

    @classmethod
    def failed(cls, scenario: str, why: str) -> Result:
        """The line of a scenario that could not be measured this time."""
        return cls(scenario, "", None, None, "", float("nan"), notes=f"failed: {why}")

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or self.baseline.median == 0:
            return None
        return self.value.median / self.baseline.median

    @property
    def met(self) -> bool | None:
        if self.target_on == "ratio":
            checked = self.ratio
        else:
            checked = self.value.median if self.value is not None else None
        if checked is None:
            return None
        return checked >= self.target if self.better == "higher" else checked <= self.target

    def to_json(self) -> dict[str, Any]:
        value, base = self.value, self.baseline
        out: dict[str, Any] = {
            "value": _round(value.median) if value else None,
            "unit": self.unit,
            "baseline": _round(base.median) if base else None,
            "baseline_name": self.baseline_name,
            "ratio": _round(self.ratio),
            "target": self.target if self.target == self.target else None,  # NaN: failed
            "target_on": self.target_on,
            "better": self.better,
            "met": self.met,
            "milestone": self.milestone,
            "runs": value.runs if value else 0,
        }
        if value:
            out |= {"min": _round(value.min), "max": _round(value.max)}
        if base:
            out |= {"baseline_min": _round(base.min), "baseline_max": _round(base.max)}
        out |= {k: _round(v) if isinstance(v, float) else v for k, v in self.extra.items()}
        if self.notes:
            out["notes"] = self.notes
        return out


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    return round(x, 3) if abs(x) < 100 else round(x, 1)


def write_json(results: list[Result], path: Path, mode: str) -> None:
    """Write ``latest.json``; scenarios not run this time keep their previous entries."""
    previous: dict[str, Any] = {}
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = {}
    for result in results:
        previous[result.scenario] = result.to_json() | {"mode": mode}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(previous, indent=2) + "\n")
    tmp.replace(path)


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def markdown(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | filerelay (median, min..max) | baseline | ratio | target | met | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v, b = r.value, r.baseline
        value = f"{_fmt(v.median)} {r.unit} ({_fmt(v.min)}..{_fmt(v.max)})" if v else "null"
        base = f"{r.baseline_name}: {_fmt(b.median)}" if b else r.baseline_name or "—"
        sign = "≥" if r.better == "higher" else "≤"
        target = f"ratio {sign} {r.target:g}"
        if r.target_on == "value":
            target = f"{sign} {r.target:g} {r.unit.split()[0]}"
        if r.milestone is not None and r.target_on == "ratio":
            target = f"ratio {sign} {r.target:.1f} (milestone {r.milestone:g})"
        if r.target != r.target:  # NaN: a failed scenario
            target = "—"
        met = {True: "yes", False: "**no**", None: "—"}[r.met]
        ratio = _fmt(r.ratio)
        lines.append(
            f"| {r.scenario} | {value} | {base} | {ratio} | {target} | {met} | "
            f"{v.runs if v else 0} |"
        )
    notes = [f"- **{r.scenario}**: {r.notes}" for r in results if r.notes]
    return "\n".join(lines + (["", *notes] if notes else []))
