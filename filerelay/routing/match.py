"""Route matching: an event in, the routes that run on it out. Pure: no network, no Celery, no
store; the only I/O is the optional content sniff for ``mime`` conditions (once per event).

Routes are evaluated in file order; every matching route runs, and a matching route with
``stop: true`` ends the evaluation. Each ``when`` is compiled once into small predicates.
A route whose ``time`` window is closed either waits (it matches, with ``not_before``) or is
skipped, as its ``outside`` says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from filerelay.globs import GlobSet
from filerelay.model import FileEvent
from filerelay.routing.index import CandidateIndex, Needs, event_key
from filerelay.routing.sniff import mime_matches, sniff_file
from filerelay.routing.window import in_window, next_opening


@dataclass
class Facts:
    """What predicates may look at: the event, the time, and a lazily sniffed MIME type."""

    event: FileEvent
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    sniff: Callable[[str], str] = sniff_file
    _mime: str | None = None

    @property
    def mime(self) -> str:
        if self._mime is None:
            self._mime = self.sniff(self.event.path)
        return self._mime


Predicate = Callable[[Facts], bool]


@dataclass(frozen=True)
class Condition:
    """One compiled condition, with a readable description for ``rules explain``."""

    describe: str
    test: Predicate


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _ext(relpath: str) -> str:
    name = relpath.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name.lstrip(".") else ""


def _path_conditions(clause: Any) -> list[Condition]:
    conds: list[Condition] = []
    if clause.source is not None:
        sources = frozenset(_as_list(clause.source))
        conds.append(Condition(f"source in {sorted(sources)}", lambda f: f.event.source in sources))
    if clause.glob is not None:
        globs = GlobSet(clause.glob)
        rx = globs.regex
        conds.append(
            Condition(
                f"glob {list(globs.patterns)}", lambda f: rx.match(f.event.relpath) is not None
            )
        )
    if clause.regex is not None:
        rx = re.compile(clause.regex)
        conds.append(
            Condition(f"regex {clause.regex!r}", lambda f: rx.search(f.event.relpath) is not None)
        )
    if clause.ext is not None:
        exts = frozenset(x.lower().lstrip(".") for x in _as_list(clause.ext))
        conds.append(Condition(f"ext in {sorted(exts)}", lambda f: _ext(f.event.relpath) in exts))
    return conds


def _file_conditions(clause: Any) -> list[Condition]:
    conds: list[Condition] = []
    if clause.size is not None:
        rng = clause.size
        conds.append(Condition(f"size {rng.describe()}", lambda f: rng.contains(f.event.size)))
    if clause.tags:
        wanted = dict(clause.tags)
        conds.append(
            Condition(
                f"tags {wanted}",
                lambda f: all(f.event.tags.get(k) == v for k, v in wanted.items()),
            )
        )
    if clause.mime is not None:
        pats = _as_list(clause.mime)
        conds.append(
            Condition(f"mime in {pats}", lambda f: any(mime_matches(f.mime, p) for p in pats))
        )
    if clause.modified is not None:
        conds.append(_modified(clause.modified))
    return conds


def _modified(mod: Any) -> Condition:
    def test(f: Facts) -> bool:
        age_s = f.now.timestamp() - f.event.mtime_ns / 1e9
        if mod.older_than is not None and age_s < mod.older_than:
            return False
        return not (mod.newer_than is not None and age_s > mod.newer_than)

    parts = []
    if mod.older_than is not None:
        parts.append(f"older than {mod.older_than:g}s")
    if mod.newer_than is not None:
        parts.append(f"newer than {mod.newer_than:g}s")
    return Condition("modified " + " and ".join(parts), test)


def compile_clause(clause: Any) -> list[Condition]:
    """Compile a clause (``when`` without ``time``) into conditions that must all hold."""
    conds = _path_conditions(clause) + _file_conditions(clause)
    if clause.any:
        branches = [compile_clause(c) for c in clause.any]
        texts = [" and ".join(c.describe for c in b) or "always" for b in branches]
        conds.append(
            Condition(
                "any of (" + " | ".join(texts) + ")",
                lambda f: any(all(c.test(f) for c in b) for b in branches),
            )
        )
    if clause.not_ is not None:
        inner = compile_clause(clause.not_)
        text = " and ".join(c.describe for c in inner) or "always"
        conds.append(Condition(f"not ({text})", lambda f: not all(c.test(f) for c in inner)))
    return conds


# the public name kept for callers that compile a whole ``when``
compile_when = compile_clause


@dataclass(frozen=True)
class Match:
    """A route that runs on the event; ``not_before`` is set when its time window is closed."""

    route: Any
    not_before: datetime | None = None


@dataclass(frozen=True)
class CompiledRoute:
    """A route with its conditions (for ``rules explain``) and the fast form of them used by
    :meth:`Router.matches`: the conditions the candidate index does not settle (a
    ``source`` condition it does), as one ``rx`` when only a glob is left, else one ``test``.
    """

    route: Any
    conditions: tuple[Condition, ...]
    rx: re.Pattern[str] | None = None
    test: Predicate | None = None

    @classmethod
    def of(cls, route: Any) -> CompiledRoute:
        when = route.when
        conditions = tuple(compile_clause(when))
        rest = conditions[1:] if when.source is not None else conditions  # source comes first
        if when.glob is not None and len(rest) == 1:  # the glob is all there is to test
            return cls(route, conditions, rx=GlobSet(when.glob).regex)
        return cls(route, conditions, test=_all_of(tuple(c.test for c in rest)))

    def first_failure(self, facts: Facts) -> Condition | None:
        for cond in self.conditions:
            if not cond.test(facts):
                return cond
        return None


def _all_of(tests: tuple[Predicate, ...]) -> Predicate | None:
    """One predicate for all ``tests`` (None: nothing to test)."""
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]

    def test(facts: Facts) -> bool:
        return all(t(facts) for t in tests)

    return test


class Router:
    """Matches events against an ordered list of routes.

    Only the routes the candidate index allows for an event are evaluated (see
    :mod:`filerelay.routing.index`); the rest cannot match it.
    """

    def __init__(self, routes: Sequence[Any], sniff: Callable[[str], str] = sniff_file) -> None:
        self.routes = [CompiledRoute.of(r) for r in routes]
        self.sniff = sniff
        self._index = CandidateIndex([(c, Needs.of(c.route.when)) for c in self.routes])

    def facts(self, event: FileEvent, now: datetime | None = None) -> Facts:
        return Facts(event, now or datetime.now(UTC), self.sniff)

    def matches(self, event: FileEvent, now: datetime | None = None) -> list[Match]:
        """The routes that run on ``event``, in order, with their time-window start."""
        facts = self.facts(event, now)
        relpath = event.relpath
        matched: list[Match] = []
        # the hot loop of routing (events x candidate routes)
        for compiled in self._index.candidates(event_key(event.source, relpath)):
            rx = compiled.rx
            if rx is not None:
                if rx.match(relpath) is None:
                    continue
            elif compiled.test is not None and not compiled.test(facts):
                continue
            route = compiled.route
            window = route.when.time
            not_before = None
            if window is not None and not in_window(window, facts.now):
                if window.outside == "skip":
                    continue
                not_before = next_opening(window, facts.now)
            matched.append(Match(route, not_before))
            if route.stop:
                break
        return matched

    def match(self, event: FileEvent, now: datetime | None = None) -> list[Any]:
        """Just the routes (see :meth:`matches`)."""
        return [m.route for m in self.matches(event, now)]

    def explain(self, event: FileEvent, now: datetime | None = None) -> list[tuple[str, str]]:
        """Per route, in order: (name, verdict) — 'matches', 'matches, waits until …',
        'no: <first failed condition>', or 'not evaluated: stopped by <route>'."""
        facts = self.facts(event, now)
        out: list[tuple[str, str]] = []
        stopped_by: str | None = None
        for compiled in self.routes:
            name = compiled.route.name
            if stopped_by is not None:
                out.append((name, f"not evaluated: stopped by {stopped_by}"))
                continue
            failed = compiled.first_failure(facts)
            if failed is not None:
                out.append((name, f"no: {failed.describe}"))
                continue
            out.append((name, _window_verdict(compiled.route.when.time, facts.now)))
            if compiled.route.stop and not out[-1][1].startswith("no"):
                stopped_by = name
        return out


def _window_verdict(window: Any, now: datetime) -> str:
    if window is None or in_window(window, now):
        return "matches"
    if window.outside == "skip":
        return f"no: time window {window.between} {window.tz} is closed (outside: skip)"
    opens = next_opening(window, now).isoformat(timespec="minutes")
    return f"matches, waits until {opens} (time window {window.between} {window.tz})"
