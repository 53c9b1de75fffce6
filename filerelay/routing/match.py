"""Route matching: an event in, the routes that run on it out. Pure: no I/O, no Celery, no store.

Routes are evaluated in file order; every matching route runs, and a matching route with
``stop: true`` ends the evaluation. Each ``when`` is compiled once into small predicates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from filerelay.globs import GlobSet
from filerelay.model import FileEvent

Predicate = Callable[[FileEvent], bool]


@dataclass(frozen=True)
class Condition:
    """One compiled condition of a route, with a readable description for ``explain``."""

    describe: str
    test: Predicate


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def compile_when(when: Any) -> list[Condition]:
    """Compile a ``When`` model into conditions that must all hold."""
    conds: list[Condition] = []
    if when.source is not None:
        sources = frozenset(_as_list(when.source))
        conds.append(Condition(f"source in {sorted(sources)}", lambda e: e.source in sources))
    if when.glob is not None:
        globs = GlobSet(when.glob)
        conds.append(Condition(f"glob {list(globs.patterns)}", lambda e: globs.matches(e.relpath)))
    if when.regex is not None:
        rx = re.compile(when.regex)
        conds.append(Condition(f"regex {when.regex!r}", lambda e: rx.search(e.relpath) is not None))
    if when.ext is not None:
        exts = frozenset(x.lower().lstrip(".") for x in _as_list(when.ext))
        conds.append(Condition(f"ext in {sorted(exts)}", lambda e: _ext(e.relpath) in exts))
    if when.size is not None:
        rng = when.size
        conds.append(Condition(f"size {rng}", lambda e: rng.contains(e.size)))
    if when.tags:
        wanted = dict(when.tags)
        conds.append(
            Condition(
                f"tags {wanted}", lambda e: all(e.tags.get(k) == v for k, v in wanted.items())
            )
        )
    return conds


def _ext(relpath: str) -> str:
    name = relpath.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name.lstrip(".") else ""


@dataclass(frozen=True)
class CompiledRoute:
    route: Any
    conditions: tuple[Condition, ...]

    def first_failure(self, event: FileEvent) -> Condition | None:
        for cond in self.conditions:
            if not cond.test(event):
                return cond
        return None


class Router:
    """Matches events against an ordered list of routes."""

    def __init__(self, routes: Sequence[Any]) -> None:
        self.routes = [CompiledRoute(r, tuple(compile_when(r.when))) for r in routes]

    def match(self, event: FileEvent) -> list[Any]:
        """The routes that run on ``event``, in order."""
        matched = []
        for compiled in self.routes:
            if compiled.first_failure(event) is None:
                matched.append(compiled.route)
                if compiled.route.stop:
                    break
        return matched

    def explain(self, event: FileEvent) -> list[tuple[str, str | None]]:
        """Per route: (name, None) if it matches, else (name, the first failed condition)."""
        out: list[tuple[str, str | None]] = []
        for compiled in self.routes:
            failed = compiled.first_failure(event)
            out.append((compiled.route.name, None if failed is None else failed.describe))
        return out
