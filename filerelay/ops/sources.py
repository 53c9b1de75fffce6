"""Sources as the operator sees them: the pause switch with who flipped it, counts and the
last file of each, and the directory tree of a source with each file's last state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from filerelay.errors import NotFoundError, UsageError
from filerelay.ops.audit import Actor, audited
from filerelay.ops.deployment import Deployment

COUNTS_WINDOW = timedelta(hours=24)
MAX_TREE_ENTRIES = 1000


@dataclass(frozen=True)
class SourceView:
    """A source: its root, its switch, its events of the last 24 h by state, its last file."""

    name: str
    root: str | None
    paused: bool
    paused_at: datetime | None
    paused_by: str | None
    counts_24h: dict[str, int]
    last_file: dict[str, Any] | None


def list_sources(dep: Deployment) -> list[SourceView]:
    """Every source the store or the config knows."""
    rows = {r.name: r for r in dep.store.sources()}
    roots = {s.name: str(s.path) for s in dep.sources()}
    names = sorted(set(rows) | set(roots))
    counts = dep.overview.source_counts(datetime.now(UTC) - COUNTS_WINDOW)
    last = dep.overview.last_files(names)
    out = []
    for name in names:
        row = rows.get(name)
        out.append(
            SourceView(
                name=name,
                root=roots.get(name) or (row.root if row else None),
                paused=bool(row and row.paused),
                paused_at=row.paused_at if row else None,
                paused_by=row.paused_by if row else None,
                counts_24h=counts.get(name, {}),
                last_file=last.get(name),
            )
        )
    return out


def get_source(dep: Deployment, name: str) -> SourceView:
    """One source; :class:`NotFoundError` when neither store nor config knows it."""
    for view in list_sources(dep):
        if view.name == name:
            return view
    raise NotFoundError(f"no source {name!r}")


def set_paused(dep: Deployment, actor: Actor, name: str, paused: bool) -> SourceView:
    """Pause or resume one source, recording who flipped it (and an audit row)."""
    get_source(dep, name)
    action = "pause" if paused else "resume"
    with audited(dep.control, actor, action, name):
        dep.store.set_paused(name, paused, actor.name)
    return get_source(dep, name)


def source_root(dep: Deployment, name: str) -> Path:
    """The configured root of a source (uploads and the tree need one)."""
    for source in dep.sources():
        if source.name == name:
            return Path(source.path)
    get_source(dep, name)  # NotFoundError for an unknown one
    raise UsageError(f"source {name!r} is not in this deployment's config")


def clean_relpath(path: str) -> list[str]:
    """A relative folder path as its parts; :class:`UsageError` for ``..`` or an absolute path."""
    parts = [p for p in path.strip().split("/") if p not in ("", ".")]
    if path.startswith("/") or any(p == ".." for p in parts) or "\x00" in path:
        raise UsageError(f"path: {path!r} must be relative to the source, without '..'")
    return parts


@dataclass(frozen=True)
class TreeEntry:
    """A folder or file under a source folder; a file with its last event's state."""

    name: str
    kind: str  # "dir" | "file"
    size: int | None
    state: str | None
    event_id: str | None


def tree(dep: Deployment, name: str, path: str = "") -> list[TreeEntry]:
    """The folders and files directly under ``path`` in source ``name``."""
    root = source_root(dep, name)
    parts = clean_relpath(path)
    folder = root.joinpath(*parts)
    if folder.is_symlink() or not folder.is_dir():
        raise NotFoundError(f"no folder {path!r} in source {name!r}")
    prefix = "/".join(parts)
    latest: dict[str, dict[str, Any]] = {}
    for row in dep.overview.latest_under(name, prefix, MAX_TREE_ENTRIES * 4):
        latest.setdefault(row["relpath"], row)
    entries = []
    with os.scandir(folder) as it:
        for entry in sorted(it, key=lambda e: e.name)[:MAX_TREE_ENTRIES]:
            if entry.is_dir(follow_symlinks=False):
                entries.append(TreeEntry(entry.name, "dir", None, None, None))
            elif entry.is_file(follow_symlinks=False):
                rel = f"{prefix}/{entry.name}" if prefix else entry.name
                last = latest.get(rel)
                size = entry.stat(follow_symlinks=False).st_size
                state = last["state"] if last else None
                entries.append(
                    TreeEntry(entry.name, "file", size, state, last["id"] if last else None)
                )
    return entries
