"""The Grafana dashboard refers only to metrics filerelay defines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from filerelay.metrics.registry import exposed_names

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "filerelay-dashboard.json"
METRIC = re.compile(r"\bfilerelay_[a-zA-Z0-9_]+")


def expressions(node: Any) -> list[str]:
    """Every PromQL expression in the dashboard: panel targets and variable queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            promql = key in {"expr", "definition"} or (key == "query" and "(" in str(value))
            if promql and isinstance(value, str):
                found.append(value)
            else:
                found.extend(expressions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(expressions(item))
    return found


def test_every_expression_uses_defined_metrics() -> None:
    # given the dashboard and the names filerelay exposes
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = expressions(dashboard)
    defined = exposed_names()
    # then every expression names at least one metric, and only defined ones
    assert len(exprs) >= 10
    for expr in exprs:
        names = set(METRIC.findall(expr))
        assert names, expr
        assert names <= defined, f"{expr}: unknown {sorted(names - defined)}"


def test_dashboard_covers_the_main_questions() -> None:
    text = DASHBOARD.read_text()
    for needed in (
        "filerelay_step_runs_total",
        "filerelay_step_duration_seconds_bucket",
        "filerelay_event_end_to_end_seconds_bucket",
        "filerelay_queue_depth",
        "filerelay_watcher_outbox_depth",
        "filerelay_watcher_pending_files",
        "filerelay_uploaded_bytes_total",
        "filerelay_compensations_total",
    ):
        assert needed in text, needed
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(filerelay_event_end" in text
