"""Builders of the store tests: file events and route plans."""

from __future__ import annotations

import itertools

from filerelay.model import FileEvent, path_dedup_key
from filerelay.store import RoutePlan, StepPlan

_inodes = itertools.count(1000)


def make_event(
    relpath: str = "in/a.bin", *, size: int = 10, inode: int | None = None, **fields: object
) -> FileEvent:
    """A file event for ``relpath`` in source ``cam``; each call a new file version."""
    ino = next(_inodes) if inode is None else inode
    values: dict[str, object] = {
        "source": "cam",
        "path": f"/data/cam/{relpath}",
        "relpath": relpath,
        "size": size,
        "mtime_ns": 1_700_000_000_000_000_000,
        "inode": ino,
        "dedup_key": path_dedup_key("cam", relpath, size, 1_700_000_000_000_000_000, ino),
        "tags": {"team": "vision"},
        "host": "h1",
    }
    values.update(fields)
    return FileEvent(**values)  # type: ignore[arg-type]


def step(position: int, name: str, branch: int = 0, max_attempts: int = 3) -> StepPlan:
    return StepPlan(
        position=position, branch=branch, name=name, action="copy", max_attempts=max_attempts
    )


def plan(route: str, *steps: StepPlan) -> RoutePlan:
    return RoutePlan(route=route, steps=list(steps))
