"""Where a copy or a move lands: the rendered ``to`` path, kept inside its template's static
root, and the ``on_conflict`` policy when something is already there.

The static root is the directory part of the template's literal text before its first field:
``/data/done/{relpath}`` → ``/data/done``; ``out/{source}-{name}`` → ``out`` (relative to the
working directory). A rendered path that climbs out of it (``..`` in a field value) is refused.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from filerelay.actions.base import ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.errors import PermanentError

OnConflict = Literal["fail", "skip", "overwrite", "rename"]
ON_CONFLICT_HELP = (
    "When a different file is already at the destination: 'fail' the step, 'skip' it "
    "(success, nothing written), 'overwrite' it, or 'rename' to the next free "
    "'name (1).ext'. An identical file (same size and SHA-256) is always success."
)
MAX_RENAMES = 10_000

Decision = Literal["write", "overwrite", "same", "skip"]


@dataclass(frozen=True)
class Placement:
    """What to do at ``path``: write a new file, overwrite, nothing (same content), or skip."""

    path: str
    decision: Decision


def static_root(template: str) -> str:
    """Directory part of the literal text before the template's first field ('' if none)."""
    literal: list[str] = []
    for text, field, _spec, _conversion in string.Formatter().parse(template):
        literal.append(text)
        if field is not None:
            break
    return os.path.dirname("".join(literal))


def render_destination(ctx: ActionContext, template: str) -> str:
    """The absolute destination path for this file; PermanentError if it escapes its root."""
    rendered = ctx.render(template)
    if not rendered or "\x00" in rendered:
        raise PermanentError(f"rendered destination {rendered!r} is empty or not a valid path")
    root = os.path.abspath(static_root(template) or ".")
    dest = os.path.abspath(rendered)
    if dest == root or os.path.commonpath([root, dest]) != root:
        raise PermanentError(f"rendered destination {rendered!r} escapes its root {root!r} ('..')")
    return dest


def place(dest: str, policy: OnConflict, is_same: Callable[[str], bool]) -> Placement:
    """Apply ``policy`` at ``dest``; ``is_same(path)`` tells whether ``path`` already holds
    the very content we would write there."""
    if not fsops.exists(dest):
        return Placement(dest, "write")
    if is_same(dest):
        return Placement(dest, "same")
    if policy == "fail":
        raise PermanentError(
            f"destination exists with different content: {dest} (on_conflict: fail)"
        )
    if policy == "skip":
        return Placement(dest, "skip")
    if policy == "overwrite":
        return Placement(dest, "overwrite")
    return _next_free(dest, is_same)


def rename_candidates(dest: str) -> Iterator[str]:
    """``dir/name (1).ext``, ``dir/name (2).ext``, ... for ``dir/name.ext``."""
    directory, name = os.path.split(dest)
    stem, ext = os.path.splitext(name)
    for n in range(1, MAX_RENAMES + 1):
        yield os.path.join(directory, f"{stem} ({n}){ext}")


def _next_free(dest: str, is_same: Callable[[str], bool]) -> Placement:
    # An identical file under one of the names means an earlier attempt already wrote it.
    for candidate in rename_candidates(dest):
        if not fsops.exists(candidate):
            return Placement(candidate, "write")
        if is_same(candidate):
            return Placement(candidate, "same")
    raise PermanentError(f"no free name for {dest} after {MAX_RENAMES} tries (on_conflict: rename)")
