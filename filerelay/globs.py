"""Glob patterns on '/'-separated relative paths, compiled once to regular expressions.

Rules (as in .gitignore and Camel's antInclude): ``*`` and ``?`` never cross ``/``; ``**``
matches any number of directories (``**/x`` matches ``x`` too); ``[abc]`` is a class. A pattern
without ``/`` matches the file name at any depth, so ``*.jpg`` matches ``a/b/c.jpg``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError(f"unclosed '[' in glob {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile one glob; raises ValueError naming the pattern when it is malformed."""
    if not pattern:
        raise ValueError("empty glob pattern")
    anchored = pattern.lstrip("/")
    body = _translate(anchored)
    if "/" not in anchored:
        body = "(?:.*/)?" + body
    return re.compile(rf"\A{body}\Z", re.DOTALL)


class GlobSet:
    """Any-of matcher over several globs."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        # one alternation: a single regex call per path, whatever the number of globs
        bodies = [compile_glob(p).pattern for p in self.patterns]
        self.regex = re.compile("|".join(f"(?:{b})" for b in bodies) or r"(?!)", re.DOTALL)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, relpath: str) -> bool:
        return self.regex.match(relpath) is not None
