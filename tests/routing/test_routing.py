"""Route matching is pure: built from config models, no broker or store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from filerelay.model import FileEvent
from filerelay.routing import Router
from tests.config.test_config_loader import load
from tests.factories import event_of_file, file_event

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
    return file_event(relpath, source=source, root="/x", size=size, tags=tags or {})


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
    assert explained["big-video"].startswith("no: size >=1048576")
    assert explained["everything"] == "matches"
    assert explained["images"].startswith("no: ext in")


def test_explain_says_which_route_stopped_evaluation(router):
    explained = dict(router.explain(event("a/v.mp4", size=2**21)))
    assert explained["big-video"] == "matches"
    assert explained["everything"] == "not evaluated: stopped by big-video"


MORE = """\
sources:
  - {name: cam, path: TMP}
routes:
  - name: images
    when: {mime: "image/*"}
    steps: [{webhook: {url: x}}]
  - name: old-or-csv
    when:
      any: [{modified: {older_than: 1h}}, {ext: csv}]
      not: {glob: "tmp/**"}
    steps: [{webhook: {url: x}}]
  - name: night
    when: {time: {between: "22:00-06:00", tz: Asia/Shanghai}}
    steps: [{webhook: {url: x}}]
  - name: night-or-never
    when: {time: {between: "22:00-06:00", tz: Asia/Shanghai, outside: skip}}
    steps: [{webhook: {url: x}}]
"""

NOON_SHANGHAI = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
MIDNIGHT_SHANGHAI = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 00:00 next day there


@pytest.fixture
def more(tmp_path):
    return Router(load(MORE, tmp_path).routes)


def real_file(tmp_path, name: str, data: bytes, age_s: float = 0) -> FileEvent:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    mtime_ns = path.stat().st_mtime_ns - int(age_s * 1e9)
    return event_of_file(path, tmp_path, source="cam", mtime_ns=mtime_ns)


def test_mime_is_sniffed_from_content_not_the_name(more, tmp_path):
    png = real_file(tmp_path, "really-a-png.txt", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    text = real_file(tmp_path, "fake.png", b"just text")
    assert "images" in [r.name for r in more.match(png, NOON_SHANGHAI)]
    assert "images" not in [r.name for r in more.match(text, NOON_SHANGHAI)]


def test_any_and_not(more, tmp_path):
    old = real_file(tmp_path, "a.bin", b"x", age_s=7200)
    csv = real_file(tmp_path, "b.csv", b"x")
    new = real_file(tmp_path, "c.bin", b"x")
    tmp_csv = real_file(tmp_path, "tmp/d.csv", b"x")
    names = lambda ev: [r.name for r in more.match(ev)]  # noqa: E731
    assert "old-or-csv" in names(old) and "old-or-csv" in names(csv)
    assert "old-or-csv" not in names(new) and "old-or-csv" not in names(tmp_csv)


def test_time_window_waits_or_skips_outside(more, tmp_path):
    ev = real_file(tmp_path, "a.bin", b"x")
    at_noon = {m.route.name: m.not_before for m in more.matches(ev, NOON_SHANGHAI)}
    assert at_noon["night"] == datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 22:00 Shanghai
    assert "night-or-never" not in at_noon
    at_night = {m.route.name: m.not_before for m in more.matches(ev, MIDNIGHT_SHANGHAI)}
    assert at_night["night"] is None and "night-or-never" in at_night
    verdict = dict(more.explain(ev, NOON_SHANGHAI))["night"]
    assert verdict.startswith("matches, waits until 2026-06-01T14:00")
