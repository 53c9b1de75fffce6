"""Where a copy or a move lands: the rendered ``to`` path, kept inside its template's static
root, and the ``on_conflict`` policy when something is already there.

The static root is the directory part of the template's literal text before its first field:
``/data/done/{relpath}`` → ``/data/done``; ``out/{source}-{name}`` → ``out`` (relative to the
working directory). A rendered path that climbs out of it (``..`` in a field value) is refused.
The static root is the operator's and may itself be a link; everything below it is walked one
directory at a time without following links (:func:`filerelay.safefs.open_dir`), so a link
planted in the destination tree (``done/evil -> /victim``) is refused, naming it, and a name
longer than 255 bytes is refused as such before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from filerelay import safefs
from filerelay.actions.base import ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.actions.fs.ops import Entry
from filerelay.errors import PermanentError, RetryableError

OnConflict = Literal["fail", "skip", "overwrite", "rename"]
ON_CONFLICT_HELP = (
    "When a different file is already at the destination: 'fail' the step, 'skip' it "
    "(success, nothing written), 'overwrite' it (atomically: the newer version replaces "
    "it), or 'rename' to the next free 'name (1).ext'. An identical file (same size and "
    "SHA-256) is always success."
)
MAX_RENAMES = 10_000
# Another writer can take the chosen name between the check and the link: decide again.
PLACEMENT_ATTEMPTS = 5

Decision = Literal["write", "overwrite", "same", "skip"]


@dataclass(frozen=True)
class Placement:
    """What to do at ``entry``: write a new file, overwrite, nothing (same content), or skip."""

    entry: Entry
    decision: Decision

    @property
    def path(self) -> str:
        return self.entry.path


@dataclass(frozen=True)
class Destination:
    """A path below a root: the root (the operator's, may be a link) and the components
    below it (walked without following links)."""

    root: str
    parts: tuple[str, ...]

    @property
    def path(self) -> str:
        return os.path.join(self.root, *self.parts)

    @classmethod
    def of(cls, template: str, path: str) -> Destination:
        """The destination ``path`` that ``template`` rendered (for a compensation)."""
        root = os.path.abspath(static_root(template) or ".")
        rel = os.path.relpath(os.path.abspath(path), root)
        if rel == ".." or rel.startswith("../") or rel == ".":
            raise PermanentError(f"{path} is not below {root}")
        return cls(root, tuple(rel.split("/")))

    @contextlib.contextmanager
    def parent(self, *, create: bool = True) -> Iterator[Entry]:
        """The destination as an :class:`Entry` of its opened parent directory (made when
        missing with ``create``; without, FileNotFoundError, raw)."""
        fd = safefs.open_dir(self.root, self.parts[:-1], create=create)
        try:
            yield Entry(fd, self.parts[-1], self.path)
        finally:
            os.close(fd)


def static_root(template: str) -> str:
    """Directory part of the literal text before the template's first field ('' if none)."""
    literal: list[str] = []
    for text, field, _spec, _conversion in string.Formatter().parse(template):
        literal.append(text)
        if field is not None:
            break
    return os.path.dirname("".join(literal))


def render_destination(ctx: ActionContext, template: str) -> Destination:
    """Where this file goes; PermanentError if it escapes its root or a name is too long."""
    rendered = ctx.render(template)
    if not rendered or "\x00" in rendered:
        raise PermanentError(f"rendered destination {rendered!r} is empty or not a valid path")
    root = os.path.abspath(static_root(template) or ".")
    dest = os.path.abspath(rendered)
    if dest == root or os.path.commonpath([root, dest]) != root:
        raise PermanentError(f"rendered destination {rendered!r} escapes its root {root!r} ('..')")
    parts = tuple(os.path.relpath(dest, root).split("/"))
    for index, part in enumerate(parts):
        safefs.check_name(part, os.path.join(root, *parts[: index + 1]))
    return Destination(root, parts)


def place(dest: Entry, policy: OnConflict, is_same: Callable[[Entry], bool]) -> Placement:
    """Apply ``policy`` at ``dest``; ``is_same(entry)`` tells whether ``entry`` already holds
    the very content we would write there. A symbolic link there is refused."""
    if not fsops.exists(dest):
        return Placement(dest, "write")
    if is_same(dest):
        return Placement(dest, "same")
    if policy == "fail":
        raise PermanentError(
            f"destination exists with different content: {dest.path} (on_conflict: fail)"
        )
    if policy == "skip":
        return Placement(dest, "skip")
    if policy == "overwrite":
        return Placement(dest, "overwrite")
    return _next_free(dest, is_same)


def settle(
    dest: Entry,
    policy: OnConflict,
    is_same: Callable[[Entry], bool],
    write: Callable[[Placement], None],
) -> Placement:
    """Decide with :func:`place` and ``write`` the file when the decision is to write one;
    decide again when the chosen name was taken meanwhile (``write`` raised
    FileExistsError). Returns the placement; nothing was written for 'same' and 'skip'."""
    for _ in range(PLACEMENT_ATTEMPTS):
        placement = place(dest, policy, is_same)
        if placement.decision in ("same", "skip"):
            return placement
        try:
            write(placement)
        except FileExistsError:
            continue
        return placement
    raise RetryableError(f"destination kept changing while writing {dest.path}")


def rename_candidates(dest: Entry) -> Iterator[Entry]:
    """``name (1).ext``, ``name (2).ext``, ... next to ``name.ext``."""
    stem, ext = os.path.splitext(dest.name)
    for n in range(1, MAX_RENAMES + 1):
        candidate = dest.sibling(f"{stem} ({n}){ext}")
        safefs.check_name(candidate.name, candidate.path)
        yield candidate


def _next_free(dest: Entry, is_same: Callable[[Entry], bool]) -> Placement:
    # An identical file under one of the names means an earlier attempt already wrote it.
    for candidate in rename_candidates(dest):
        if not fsops.exists(candidate):
            return Placement(candidate, "write")
        if is_same(candidate):
            return Placement(candidate, "same")
    raise PermanentError(
        f"no free name for {dest.path} after {MAX_RENAMES} tries (on_conflict: rename)"
    )
