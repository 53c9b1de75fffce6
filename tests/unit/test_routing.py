"""Route matching is pure: built from config models, no broker or store."""

from __future__ import annotations

import pytest

from filerelay.model import FileEvent
from filerelay.routing import Router
from tests.unit.test_config_loader import load

RULES = """\
sources:
  - {name: cam, path: TMP}
  - {name: logs, path: TMP}
routes:
  - name: big-video
    when: {source: cam, glob: "**/*.mp4", size: ">=1MiB"}
    steps: [{webhook: {url: x}}]
    stop: true
  - name: images
    when: {ext: [jpg, .PNG]}
    steps: [{webhook: {url: x}}]
  - name: tagged
    when: {tags: {team: vision}, regex: "^2024/"}
    steps: [{webhook: {url: x}}]
  - name: everything
    steps: [{webhook: {url: x}}]
"""


def event(relpath: str, size: int = 10, source: str = "cam", tags=None) -> FileEvent:
    return FileEvent(
        source=source,
        path=f"/x/{relpath}",
        relpath=relpath,
        size=size,
        mtime_ns=1,
        inode=1,
        dedup_key=relpath,
        tags=tags or {},
    )


@pytest.fixture
def router(tmp_path):
    return Router(load(RULES, tmp_path).routes)


@pytest.mark.parametrize(
    ("ev", "routes"),
    [
        (event("a/v.mp4", size=2**21), ["big-video"]),
        (event("a/v.mp4", size=10), ["everything"]),
        (event("p.jpg"), ["images", "everything"]),
        (event("p.png"), ["images", "everything"]),
        (event("2024/p.png", tags={"team": "vision"}), ["images", "tagged", "everything"]),
        (event("2023/p.png", tags={"team": "vision"}), ["images", "everything"]),
        (event("v.mp4", size=2**21, source="logs"), ["everything"]),
        (event("noext"), ["everything"]),
    ],
)
def test_match_in_order_with_stop(router, ev, routes):
    assert [r.name for r in router.match(ev)] == routes


def test_explain_names_the_first_failed_condition(router):
    explained = dict(router.explain(event("a/v.mp4", size=10)))
    assert explained["big-video"].startswith("size")
    assert explained["everything"] is None
    assert explained["images"].startswith("ext in")
