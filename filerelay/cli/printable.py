"""Text from files and the store made safe to print on a terminal.

A file name may hold any byte but ``/`` and NUL: ``ESC ] 52`` (write the clipboard), ``ESC [``
(colours, cursor moves, a cleared screen), a carriage return that overwrites the line, or a
right-to-left override that reorders it. Human output shows such characters escaped
(``\\x1b``, ``\\r``, ``\\u202e``), the way Python's ``repr`` would; ``--json`` output is
JSON-escaped by the encoder anyway.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from filerelay import fsnames

if TYPE_CHECKING:
    from rich.text import Text

# C0 and C1 controls, DEL; the Unicode format characters (bidi overrides, zero-width) are
# found by category below
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: object) -> str:
    """``str(value)`` with a file name's non-UTF-8 bytes as ``\\xNN`` (:func:`fsnames.readable`)
    and control and format characters escaped (``\\x1b``, ``\\u202e``)."""
    text = fsnames.readable(str(value))
    if text.isprintable():
        return text
    return "".join(_escape(ch) for ch in text)


def cell(value: object) -> Text:
    """A rich table cell of :func:`printable` text (never read as rich markup)."""
    from rich.text import Text  # only the views draw tables: not in the long-running processes

    return Text(printable(value))


def _escape(ch: str) -> str:
    if ch == " " or not (_CONTROL.match(ch) or unicodedata.category(ch) in {"Cf", "Cs", "Co"}):
        return ch
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")
