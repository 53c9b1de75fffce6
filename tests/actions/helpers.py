"""Build a real :class:`FileEvent` and :class:`ActionContext` for a file on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from filerelay.actions.base import ActionContext, Resources
from filerelay.config.models import S3Connection
from filerelay.model import FileEvent
from tests.factories import event_of_file

S3_CONNECTION = "s3-test"
# 2024-03-05 06:07:08 UTC
DETECTED_AT = 1709618828.0


def write_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (creating parents) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_event(path: Path, root: Path, *, source: str = "src", **overrides: Any) -> FileEvent:
    """The event a watcher would emit for ``path`` (under source root ``root``) right now."""
    values: dict[str, Any] = {"detected_at": DETECTED_AT, "host": "test-host", **overrides}
    return event_of_file(path, root, source=source, **values)


def make_context(
    event: FileEvent,
    resources: Resources | None = None,
    *,
    route: str = "r",
    step: str = "0-step",
    attempt: int = 1,
) -> ActionContext:
    """A fresh context for one attempt of one step, as the runner would build it."""
    return ActionContext(
        event=event,
        route=route,
        step_name=step,
        position=0,
        attempt=attempt,
        idempotency_key=f"{event.dedup_key}:{route}:{step}",
        timeout_s=60.0,
        resources=resources or Resources(),
    )


def s3_resources(endpoint_url: str, **overrides: Any) -> Resources:
    """Resources with one path-style S3 connection named :data:`S3_CONNECTION`."""
    values: dict[str, Any] = {
        "type": "s3",
        "endpoint_url": endpoint_url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "path_style": True,
        "connect_timeout": 2,
        "read_timeout": 10,
    }
    values.update(overrides)
    return Resources(connections={S3_CONNECTION: S3Connection(**values)})


def cut_off(action: Any, event: FileEvent, resources: Resources, saves: int) -> dict[str, Any]:
    """Run ``action`` as a first attempt that loses its lease at its ``saves + 1``-th
    checkpoint (it must stop, saying so); returns the last checkpoint it saved."""
    import pytest

    from filerelay.errors import RetryableError

    saved: list[dict[str, Any]] = []

    def lease_held(checkpoint: dict[str, Any]) -> bool:
        saved.append(checkpoint)
        return len(saved) <= saves

    first = make_context(event, resources)
    first.checkpointer = lease_held
    with pytest.raises(RetryableError, match="lost its lease"):
        action.run(first)
    return saved[-1]
