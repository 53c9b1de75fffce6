"""PathFilter and ReadyMarker, table-driven."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from filerelay.config.models import Source
from filerelay.errors import ConfigError
from filerelay.watcher.filters import PathFilter, ReadyMarker


def source(**kw: Any) -> Source:
    return Source(name="s", path=Path("/data"), **kw)


@pytest.mark.parametrize(
    ("settings", "relpath", "taken"),
    [
        ({}, "a.csv", True),
        ({}, "deep/er/a.csv", True),
        ({}, "report.pdf", True),
        # temp files, always
        ({}, "a.tmp", False),
        ({}, "sub/a.part", False),
        ({}, "a.partial", False),
        ({}, "movie.mp4.crdownload", False),
        ({}, ".a.csv.swp", False),
        ({}, "notes.txt~", False),
        ({}, ".#notes.txt", False),
        ({}, ".~lock.sheet.ods#", False),
        ({}, "sub/.x.csv.filerelay-tmp", False),
        ({"include_hidden": True}, ".x.csv.filerelay-tmp", False),
        ({"include_hidden": True}, "a.tmp", False),
        ({}, "a.tmp.csv", True),
        ({}, "tmp/a.csv", True),
        # hidden files and directories
        ({}, ".hidden", False),
        ({}, ".git/config", False),
        ({}, "a/.cache/b.csv", False),
        ({}, "a/b.csv/.x", False),
        ({"include_hidden": True}, ".hidden", True),
        ({"include_hidden": True}, ".git/config", True),
        # include / exclude
        ({"include": ["*.csv"]}, "a.csv", True),
        ({"include": ["*.csv"]}, "x/y/a.csv", True),
        ({"include": ["*.csv"]}, "a.json", False),
        ({"include": ["in/**"]}, "in/a/b.json", True),
        ({"include": ["in/**"]}, "out/a.json", False),
        ({"include": ["**/*.jpg", "*.mp4"]}, "cam/1/x.jpg", True),
        ({"include": ["**/*.jpg"]}, "x.jpg", True),
        ({"include": ["*.csv"], "exclude": ["archive/**"]}, "archive/old.csv", False),
        ({"include": ["*.csv"], "exclude": ["archive/**"]}, "new/a.csv", True),
        ({"exclude": ["*.log", "big/*"]}, "x/app.log", False),
        ({"exclude": ["big/*"]}, "big/deeper/file", True),
        ({"exclude": ["big/*"]}, "big/file", False),
        ({"include": ["data_??.csv"]}, "data_01.csv", True),
        ({"include": ["data_??.csv"]}, "data_1.csv", False),
        # not recursive: top level only
        ({"recursive": False}, "a.csv", True),
        ({"recursive": False}, "sub/a.csv", False),
        # ready markers are never events themselves
        ({"ready_marker": "{name}.done"}, "a.csv.done", False),
        ({"ready_marker": "{name}.done"}, "a.csv", True),
        ({"ready_marker": "{stem}.ok"}, "sub/a.ok", False),
        # names that are not UTF-8 (surrogate-escaped) or contain newlines
        ({}, "caf\udce9/r\u00e9sum\u00e9 1.pdf", True),
        ({}, "line\nbreak.csv", True),
        ({"include": ["*.csv"]}, "line\nbreak.csv", True),
    ],
)
def test_path_filter(settings: dict[str, Any], relpath: str, taken: bool) -> None:
    assert PathFilter(source(**settings))(relpath) is taken


def test_ignore_list_is_a_class_attribute_a_subclass_can_extend() -> None:
    class NoBackups(PathFilter):
        ignore_names = (*PathFilter.ignore_names, "*.bak")

    assert NoBackups(source())("a.bak") is False
    assert PathFilter(source())("a.bak") is True


@pytest.mark.parametrize(
    ("template", "data", "marker"),
    [
        ("{name}.done", "/d/a.csv", "/d/a.csv.done"),
        ("{stem}.ok", "/d/a.csv", "/d/a.ok"),
        ("{stem}.{ext}.ready", "x/b.tar", "x/b.tar.ready"),
        ("_READY_{name}", "c", "_READY_c"),
    ],
)
def test_ready_marker_paths(template: str, data: str, marker: str) -> None:
    rm = ReadyMarker(template)
    assert rm.path_for(data) == marker
    assert rm.is_marker_name(marker.rpartition("/")[2])


@pytest.mark.parametrize("template", ["done", "{size}.done", "../{name}.done", "{name"])
def test_bad_ready_marker_is_a_config_error(template: str) -> None:
    with pytest.raises(ConfigError):
        ReadyMarker(template)


def test_enter_dir_skips_hidden_dirs_unless_asked() -> None:
    assert PathFilter(source()).enter_dir("a/b")
    assert not PathFilter(source()).enter_dir("a/.b")
    assert PathFilter(source(include_hidden=True)).enter_dir("a/.b")
    assert not PathFilter(source(recursive=False)).enter_dir("a")


# --- a walk's per-directory name test ------------------------------------------------------

NAME_TEST_SETTINGS: list[dict[str, Any]] = [
    {},
    {"include_hidden": True},
    {"recursive": False},
    {"include": ["*.csv"]},  # name globs: tested on the bare name
    {"include": ["*.csv", "data_??.json", "report*"], "exclude": ["*_old.csv", "x?z"]},
    {"exclude": ["*.log", "#*"]},
    {"include": ["/top*.csv"]},  # a leading '/' is dropped: any depth, as without it
    {"include": ["in/**"]},  # globs that look at directories: on the whole relative path
    {"include": ["**/*.jpg", "*.csv"]},
    {"exclude": ["big/*"]},
    {"include": ["*.csv"], "exclude": ["archive/**"]},
    {"include": ["[!a]*.csv"]},  # a class may match '/': on the whole path
    {"include": ["a**b"]},  # so may '**' without a '/'
    {"ready_marker": "{name}.done"},
    {"ready_marker": "{stem}.ok", "include": ["*.csv", "*.ok"], "include_hidden": True},
]

RELPATHS = [
    "a.csv", "b.json", "top1.csv", "sub/top2.csv", "data_01.json", "data_1.json",
    "report", "report.pdf", "x/report.txt", "xyz", "x/xaz", "new_old.csv", "app.log",
    "#auto#", "#a", "a#", "d/#auto#", ".x.~1a2b", "d/.x.~1a2b", ".x.csv.filerelay-tmp",
    "sub/.x.csv.filerelay-tmp", ".hidden.csv", "d/.hidden.csv", ".git/config",
    "a/.cache/b.csv", "a/b.csv/.x", ".h/c/z.csv", "a.tmp", "sub/a.part", "notes.txt~",
    "~$report.docx", ".~lock.sheet.ods#", "a.tmp.csv", "tmp/a.csv", "in/a/b.json",
    "out/in/a.json", "cam/1/x.jpg", "x.jpg", "big/file", "big/deeper/file",
    "archive/old.csv", "new/a.csv", "a/b.csv", "b/a.csv", "ab", "a/b", "a/x/b", "xa/b",
    "a.csv.done", "sub/a.csv.done", "a.ok", "sub/.a.ok", "line\nbreak.csv",
    "caf\udce9/r\u00e9sum\u00e9 1.pdf", "deep/er/and/deeper/a.csv",
]  # fmt: skip


@pytest.mark.parametrize("settings", NAME_TEST_SETTINGS, ids=str)
def test_name_test_of_a_directory_agrees_with_the_path_filter(settings: dict[str, Any]) -> None:
    # given a filter, when a walk tests the names of each directory's files,
    # then each answer is the path filter's on the whole relative path
    flt = PathFilter(source(**settings))
    for relpath in RELPATHS:
        head, _, name = relpath.rpartition("/")
        reldir = head + "/" if head else ""
        assert flt.name_test(reldir)(name) == flt(relpath), relpath


def test_name_test_of_a_subclass_with_a_glob_starting_with_a_class() -> None:
    class Wider(PathFilter):
        ignore_names = (*PathFilter.ignore_names, "[ab]*.x", "?.y")

    flt = Wider(source(include_hidden=True))
    for relpath in ("a1.x", "d/b.x", "c.x", "q.y", "qq.y", ".x.~1", "d/#a#", "ok.csv"):
        head, _, name = relpath.rpartition("/")
        assert flt.name_test(head + "/" if head else "")(name) == flt(relpath), relpath
