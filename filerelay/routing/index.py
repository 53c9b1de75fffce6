"""The candidate index of the router: which routes *could* match an event, found with one
dict lookup instead of evaluating every route's conditions.

A route's top-level ``source`` and ``glob`` conditions imply cheap necessary conditions on
three facts of an event, its *key*: the source, the path's *tail* (from its last ``.`` on,
or None) and its first path component. A glob's literal text after its last wildcard must
end the path (the regex is anchored with ``\\Z``), so if that text holds a ``.`` the path's
tail is fixed; its literal text before the first wildcard must start the path (for a glob
with a ``/``; one without matches at any depth). The routes that pass these checks for a key
are computed once and cached; the full conditions still run on each of them, so the index
only ever leaves out routes that cannot match, and evaluation order is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Key = tuple[str, str | None, str]
"""``(source, tail, first path component)`` of an event."""

#: Distinct keys kept; the cache starts over when full (a key costs one pass over the routes).
MAX_KEYS = 8192


def event_key(source: str, relpath: str) -> Key:
    """The index key of an event (see the module docstring)."""
    dot = relpath.rfind(".")
    slash = relpath.find("/")
    return (
        source,
        relpath[dot:] if dot >= 0 else None,
        relpath[:slash] if slash >= 0 else relpath,
    )


@dataclass(frozen=True, slots=True)
class GlobNeed:
    """What one glob requires of a path: its tail (None: anything) and its start (``head``;
    ``exact``: the first component must equal it, else start with it)."""

    tail: str | None
    head: str
    exact: bool

    @classmethod
    def of(cls, pattern: str) -> GlobNeed:
        anchored = pattern.lstrip("/")
        head_end, tail_start = _literal_ends(anchored)
        tail = anchored[tail_start:]
        head = anchored[:head_end] if "/" in anchored else ""
        exact = "/" in head
        return cls(
            tail=tail[tail.rfind(".") :] if "." in tail else None,
            head=head.split("/", 1)[0] if exact else head,
            exact=exact,
        )

    def allows(self, tail: str | None, first: str) -> bool:
        if self.tail is not None and self.tail != tail:
            return False
        return first == self.head if self.exact else first.startswith(self.head)


def _literal_ends(pattern: str) -> tuple[int, int]:
    """Where the first wildcard starts and where the literal text after the last one starts
    (the tokens of :func:`filerelay.globs._translate`: ``**/``, ``**``, ``*``, ``?``, ``[…]``)."""
    first, last_end = len(pattern), 0
    i, n = 0, len(pattern)
    while i < n:
        start, c = i, pattern[i]
        if pattern.startswith("**/", i):
            i += 3  # '**/' may match nothing: its '/' is not required
        elif pattern.startswith("**", i):
            i += 2
        elif c in "*?":
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            i = end + 1 if end != -1 else n
        else:
            i += 1
            continue
        first, last_end = min(first, start), i
    return first, last_end


@dataclass(frozen=True, slots=True)
class Needs:
    """The necessary conditions of one route: sources (None: any) and globs (None: any; the
    route may match if any of them allows the path)."""

    sources: frozenset[str] | None
    globs: tuple[GlobNeed, ...] | None

    @classmethod
    def of(cls, clause: Any) -> Needs:
        source = clause.source
        sources = (
            None if source is None else frozenset([source] if isinstance(source, str) else source)
        )
        globs = None if clause.glob is None else tuple(GlobNeed.of(p) for p in clause.glob)
        return cls(sources, globs)

    def allows(self, key: Key) -> bool:
        source, tail, first = key
        if self.sources is not None and source not in self.sources:
            return False
        return self.globs is None or any(g.allows(tail, first) for g in self.globs)


class CandidateIndex(Generic[T]):
    """``items`` (in order) with their :class:`Needs`; :meth:`candidates` of a key, cached."""

    def __init__(self, items: Sequence[tuple[T, Needs]]) -> None:
        self._items = list(items)
        self._cache: dict[Key, tuple[T, ...]] = {}

    def candidates(self, key: Key) -> tuple[T, ...]:
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= MAX_KEYS:
                self._cache.clear()
            found = tuple(item for item, needs in self._items if needs.allows(key))
            self._cache[key] = found
        return found
