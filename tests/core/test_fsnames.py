"""The forms of a file name that is not UTF-8: escaped (store, reversible), readable (text),
S3 (percent-encoded bytes)."""

from __future__ import annotations

import os

import pytest

from filerelay import fsnames

LATIN1 = os.fsdecode(b"caf\xe9.txt")


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("plain.txt", "plain.txt"),
        ("\u00e9t\u00e9 \u2603.txt", "\u00e9t\u00e9 \u2603.txt"),
        (LATIN1, "caf\\xe9.txt"),
        ("caf\\xe9.txt", "caf\\\\xe9.txt"),
        ("a\\b", "a\\\\b"),
        ("\ud800", "\\ud800"),
    ],
)
def test_escape_is_utf8_and_reversible(name: str, escaped: str) -> None:
    assert fsnames.escape(name) == escaped
    assert fsnames.escape(name).encode("utf-8")  # never raises
    assert fsnames.unescape(escaped) == name


def test_readable_and_s3_forms() -> None:
    assert fsnames.readable(f"cannot read /in/{LATIN1}") == "cannot read /in/caf\\xe9.txt"
    assert fsnames.readable("C:\\dir") == "C:\\dir"  # backslashes left alone
    assert fsnames.s3_key(f"in/{LATIN1}") == "in/caf%E9.txt"
    assert fsnames.s3_key("in/100%.txt") == "in/100%.txt"  # keys of UTF-8 names never change
