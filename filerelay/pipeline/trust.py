"""What a worker trusts in an ingest message: nothing about where the file is.

The broker is a trust boundary (see docs/deployment.md): anyone who can publish to it can send
a ``filerelay.ingest``. So the file's path is derived again from the worker's own config — the
named source's root joined with ``relpath`` — and the message's ``path`` must be exactly that;
``relpath`` must be relative without ``..``, and the file, symlinks resolved, must lie inside
the root. Anything else is refused for good (the event is recorded ``failed`` with the reason)
and nothing runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from filerelay.model import FileEvent

REFUSED = "refused"


def refusal(sources: Iterable[Any], event: FileEvent) -> str | None:
    """Why the event must not be processed, or None when it names a file of its source."""
    source = next((s for s in sources if s.name == event.source), None)
    if source is None:
        return f"{REFUSED}: unknown source {event.source!r}"
    relpath = event.relpath
    parts = Path(relpath).parts
    if not relpath or os.path.isabs(relpath) or ".." in parts or "\0" in relpath:
        return f"{REFUSED}: relpath {relpath!r} is not a plain relative path"
    roots = _roots(str(source.path))
    if event.path not in {os.path.join(root, relpath) for root in roots}:
        return f"{REFUSED}: path is not the source's root joined with relpath"
    real_root = os.path.realpath(str(source.path))
    real = os.path.realpath(event.path)
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        return f"{REFUSED}: the file is outside the source's root (a symlink?)"
    return None


def _roots(root: str) -> set[str]:
    """The root as the watcher names it (absolute, normalised) and resolved (a root given
    through a symlink: ``filerelay submit`` may name files by either)."""
    return {os.path.normpath(os.path.abspath(root)), os.path.realpath(root)}
