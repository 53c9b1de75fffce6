"""The router's candidate index only ever leaves out routes that cannot match: checked
against the glob regexes themselves on generated globs and paths, and against evaluating
every route's conditions in order."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from filerelay.globs import compile_glob
from filerelay.model import FileEvent
from filerelay.routing import Router
from filerelay.routing.index import MAX_KEYS, CandidateIndex, GlobNeed, Needs, event_key
from tests.config.test_config_loader import load
from tests.factories import file_event

LITERALS = ["a", "b", ".", ".c", "x.y", "/"]
WILDCARDS = ["*", "**", "**/", "?", "[ab]", "[!a]"]
FILLERS = ["", "a", ".", "c.d", "/", "x/.y", "b.c/d"]  # what '**' may stand for


@st.composite
def glob_and_match(draw):
    """A glob and a path made to match it (each wildcard filled in)."""
    tokens = draw(st.lists(st.sampled_from(LITERALS + WILDCARDS), min_size=1, max_size=7))
    parts = []
    for token in tokens:
        if token in LITERALS:
            parts.append(token)
        elif token == "**":
            parts.append(draw(st.sampled_from(FILLERS)))
        elif token == "**/":
            parts.append(draw(st.sampled_from(["", "a/", "b.c/d/"])))
        elif token == "*":
            parts.append(draw(st.sampled_from(["", "a", ".", "x.z"])))
        else:
            parts.append("b")
    prefix = draw(st.sampled_from(["", "p/", "q.r/s/"]))  # depth, for globs without '/'
    return "".join(tokens), prefix + "".join(parts)


@pytest.mark.slow  # 3000 examples
@settings(max_examples=3000, deadline=None)
@given(case=glob_and_match())
def test_a_glob_that_matches_a_path_is_allowed_by_its_key(case):
    pattern, relpath = case
    assume(compile_glob(pattern).match(relpath))
    _source, tail, first = event_key("s", relpath)
    assert GlobNeed.of(pattern).allows(tail, first), (pattern, relpath)


@pytest.mark.parametrize(
    ("pattern", "relpath", "allowed"),
    [
        ("*.jpg", "a/b/c.jpg", True),
        ("*.jpg", "a/b/c.png", False),
        ("d000/*", "d000/x.bin", True),
        ("d000/*", "d001/x.bin", False),
        ("d0*/f00*.jpg", "d012/f001.jpg", True),
        ("d0*/f00*.jpg", "e012/f001.jpg", False),
        ("**/x.txt", "x.txt", True),
        ("/abs/*.csv", "abs/y.csv", True),
        ("*.[jJ]pg", "a.Jpg", True),
        ("a/**", "a/b/c", True),
        ("a/**", "b/a/c", False),
    ],
)
def test_glob_needs(pattern, relpath, allowed):
    _source, tail, first = event_key("s", relpath)
    assert GlobNeed.of(pattern).allows(tail, first) is allowed
    if allowed is False:
        assert not compile_glob(pattern).match(relpath)


def test_the_key_cache_starts_over_when_full():
    index = CandidateIndex([("r", Needs(None, None))])
    for i in range(MAX_KEYS + 5):
        assert index.candidates(("s", f".{i}", "a")) == ("r",)
    assert len(index._cache) <= MAX_KEYS


RULES = """\
sources:
  - {name: cam, path: TMP}
  - {name: logs, path: TMP}
routes:
  - {name: jpg, when: {glob: "*.jpg"}, steps: [{webhook: {url: x}}]}
  - {name: cam-dir, when: {source: cam, glob: ["d1/*", "e*/**"]}, steps: [{webhook: {url: x}}]}
  - {name: logs-any, when: {source: logs}, steps: [{webhook: {url: x}}]}
  - {name: big-csv, when: {glob: "**/*.csv", size: ">=100"}, steps: [{webhook: {url: x}}]}
  - {name: stop-tmp, when: {regex: "^tmp/"}, stop: true, steps: [{webhook: {url: x}}]}
  - {name: ext-or, when: {any: [{ext: png}, {glob: "x/**"}]}, steps: [{webhook: {url: x}}]}
  - {name: all, steps: [{webhook: {url: x}}]}
"""

SOURCES = ["cam", "logs"]
NAMES = ["a.jpg", "d1/a.jpg", "d1/b.csv", "e2/f/g.png", "tmp/a.jpg", "x/y", "noext", "tmp/e.csv"]


def naive(router: Router, ev: FileEvent) -> list[str]:
    """Every route's conditions, in order, until a matching ``stop`` route."""
    facts = router.facts(ev)
    out = []
    for compiled in router.routes:
        if compiled.first_failure(facts) is None:
            out.append(compiled.route.name)
            if compiled.route.stop:
                break
    return out


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("relpath", NAMES)
@pytest.mark.parametrize("size", [10, 1000])
def test_router_agrees_with_evaluating_every_route(tmp_path, source, relpath, size):
    router = Router(load(RULES, tmp_path).routes)
    ev = file_event(relpath, source=source, root="/x", size=size)
    assert [r.name for r in router.match(ev)] == naive(router, ev)
