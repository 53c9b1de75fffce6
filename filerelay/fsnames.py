"""File names that are not UTF-8: one in-memory form, one escaped text form, one S3 form.

Linux names are bytes. Python decodes them with ``surrogateescape`` (``os.fsdecode``), so
``b"caf\\xe9.txt"`` (Latin-1, common on old SMB shares and in archives) is the ``str``
``"caf\\udce9.txt"`` in memory, and ``os.fsencode`` gives the exact bytes back: the watcher,
the messages and the file actions (``copy``/``move`` keep the exact bytes) use that form.

Text that leaves the process must be valid UTF-8 (PostgreSQL refuses surrogates, so does a
terminal, an HTTP header, an S3 key), so names are written as:

- :func:`escape` — in the store and in the CLI's text and JSON output: each byte that is not
  UTF-8 as ``\\xNN`` (lower-case hex) and a backslash as ``\\\\``. It is reversible
  (:func:`unescape`), so a name that really contains ``\\xe9`` never collides with one
  holding the byte 0xE9. A UTF-8 name without a backslash is unchanged.
- :func:`s3_key` — in S3 keys and object metadata: each byte that is not UTF-8
  percent-encoded (``%E9``); everything else is left as it is, so the keys of UTF-8 names
  stay what they always were.
- :func:`readable` — in free text (error messages, logs): like :func:`escape` but leaving
  backslashes alone; not reversible, only readable.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_TO_ESCAPE = re.compile("[\\\\\ud800-\udfff]")
_ESCAPED = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})")

_FIRST_ESCAPED_BYTE, _LAST_ESCAPED_BYTE = 0xDC80, 0xDCFF  # surrogateescape's range


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    if _FIRST_ESCAPED_BYTE <= code <= _LAST_ESCAPED_BYTE:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"  # a lone surrogate that no file name decodes to; kept reversible


def _unescape_one(match: re.Match[str]) -> str:
    body = match.group(1)
    if body == "\\":
        return "\\"
    if body[0] == "x":
        return chr(0xDC00 + int(body[1:], 16))
    return chr(int(body[1:], 16))


def escape(name: str) -> str:
    """``name`` as UTF-8-safe, reversible text: non-UTF-8 bytes as ``\\xNN``, ``\\`` as ``\\\\``."""
    if not _TO_ESCAPE.search(name):
        return name
    return _TO_ESCAPE.sub(_escape_one, name)


def unescape(text: str) -> str:
    """The inverse of :func:`escape` (``\\xNN`` back to the surrogate-escaped byte)."""
    if "\\" not in text:
        return text
    return _ESCAPED.sub(_unescape_one, text)


def readable(text: str) -> str:
    """Free text made UTF-8-safe for humans: non-UTF-8 bytes as ``\\xNN``; not reversible."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(_escape_one, text)


def s3_key(key: str) -> str:
    """An S3 key (or metadata value) for ``key``: each non-UTF-8 byte as ``%NN`` (upper case)."""
    if not _SURROGATE.search(key):
        return key
    return _SURROGATE.sub(_percent_one, key)


def _percent_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    if _FIRST_ESCAPED_BYTE <= code <= _LAST_ESCAPED_BYTE:
        return f"%{code - 0xDC00:02X}"
    return "%3F"  # "?": a lone surrogate no file name decodes to has no bytes to show
