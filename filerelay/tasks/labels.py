"""The labels of a task message (event, source, step) for log lines and Flower."""

from __future__ import annotations

from typing import Any

from filerelay.tasks.names import INGEST, INGEST_BATCH, STEP


def task_labels(name: str, args: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``event_id`` and ``source`` (and a step's ``step_id``) from a task's arguments."""
    labels: dict[str, Any] = {}
    if name == INGEST and args and isinstance(args[0], dict):
        labels = {"event_id": args[0].get("event_id"), "source": args[0].get("source")}
    elif name == INGEST_BATCH and args and isinstance(args[0], list):
        labels = {"files": len(args[0])}
    elif name == STEP:
        labels = {
            "event_id": kwargs.get("event_id"),
            "source": kwargs.get("source"),
            "step_id": args[0] if args else None,
        }
    return {key: value for key, value in labels.items() if value not in (None, "")}
