"""Which configured source a path on disk belongs to, and its relative path there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from filerelay.errors import UsageError


def absolute(path: str) -> str:
    """``path`` made absolute and normalised, symlinks kept (as the watcher names files)."""
    return os.path.normpath(os.path.abspath(path))


def locate(sources: list[Any], path: str) -> tuple[Any, str]:
    """The source containing ``path`` and the file's relpath in it.

    Raises :class:`UsageError` for a path outside every source. Sources are tried by their
    configured root and by its resolved form (a root given through a symlink).
    """
    target = absolute(path)
    for source in sources:
        for root in {absolute(str(source.path)), str(Path(source.path).resolve())}:
            if target.startswith(root.rstrip("/") + "/"):
                return source, target[len(root.rstrip("/")) + 1 :]
    roots = ", ".join(f"{s.name}={s.path}" for s in sources)
    raise UsageError(f"{path}: outside every source ({roots})")
