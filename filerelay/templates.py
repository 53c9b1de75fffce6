"""Safe templates for keys, paths and messages: ``{relpath}``, ``{date:%Y/%m/%d}``, ...

Only documented fields are allowed; there is no attribute or index access into Python objects
(``{event.__class__}`` and ``{x[0]}`` are rejected when the config loads). ``steps.<name>.<field>``
and ``tags.<key>`` are plain dict lookups done here, never ``getattr``.
"""

from __future__ import annotations

import functools
import posixpath
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from filerelay.errors import RoutingError

SIMPLE_FIELDS = {
    "source": "source name",
    "relpath": "path relative to the source root",
    "path": "absolute path of the file (for script argv; rejected in keys, which are relative)",
    "name": "file name",
    "stem": "file name without its last extension",
    "ext": "last extension without the dot ('' if none)",
    "dir": "directory part of relpath ('' at the root)",
    "size": "size in bytes",
    "sha256": "SHA-256 of the content, hex",
    "date": "detection time (UTC); format with strftime, e.g. {date:%Y/%m/%d}",
    "mtime": "modification time (UTC); format with strftime",
    "event_id": "event id",
    "dedup_key": "dedup key",
    "host": "host of the watcher",
    "agent": "agent id of the watcher's host (FILERELAY_AGENT_ID; the host name by default)",
    "route": "route name",
}
NESTED_FIELDS = {"steps": 2, "tags": 1}
# widths and precisions above this in a format spec are refused at load: '{name:>999999999}'
# would build a 1 GB string for every file
MAX_FORMAT_WIDTH = 1024
# [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(\d*)[_,]?(?:\.(\d+))?[a-zA-Z%]?$", re.DOTALL)
# strftime field widths (glibc): '%010Y'
_STRFTIME_WIDTH = re.compile(r"%[-_0^#]*(\d+)")
_DATE_FIELDS = {"date", "mtime"}
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Template:
    """A parsed, validated template."""

    text: str
    fields: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Validate ``text``; raises ValueError with a readable reason. A template is parsed
        once per process (the steps render the same few config templates for every file);
        a text that fails is checked again each time, and fails the same way."""
        return _parsed(text)

    @classmethod
    def _parse(cls, text: str) -> Template:
        fields: set[str] = set()
        try:
            parts = list(_FORMATTER.parse(text))
        except ValueError as exc:
            raise ValueError(f"bad template {text!r}: {exc}") from None
        for _literal, field, spec, conversion in parts:
            if field is None:
                continue
            _check_field(text, field, spec or "", conversion)
            fields.add(field)
        return cls(text, frozenset(fields))

    @property
    def needs_sha256(self) -> bool:
        return "sha256" in self.fields

    def render(
        self, values: Mapping[str, Any], encode: Callable[[str, str], str] | None = None
    ) -> str:
        """The text with every field's value; ``encode(rendered_so_far, value)``, when given,
        transforms each value before it is inserted (a URL's percent-encoding)."""
        out: list[str] = []
        for literal, field, spec, _conversion in _FORMATTER.parse(self.text):
            out.append(literal)
            if field is not None:
                value = format(_lookup(values, field), spec or "")
                out.append(encode("".join(out), value) if encode is not None else value)
        return "".join(out)


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> Template:
    return Template._parse(text)


def _check_field(text: str, field: str, spec: str, conversion: str | None) -> None:
    if conversion:
        raise ValueError(f"template {text!r}: conversions like '!{conversion}' are not allowed")
    if not field or "[" in field or "(" in field:
        raise ValueError(f"template {text!r}: field {{{field}}} is not allowed (no index access)")
    head, *rest = field.split(".")
    if head in NESTED_FIELDS:
        if len(rest) != NESTED_FIELDS[head] or not all(p.isidentifier() or p for p in rest):
            shape = "steps.<name>.<field>" if head == "steps" else "tags.<key>"
            raise ValueError(f"template {text!r}: {{{field}}} must have the form {{{shape}}}")
        return
    if head not in SIMPLE_FIELDS or rest:
        allowed = ", ".join([*sorted(SIMPLE_FIELDS), "steps.<name>.<field>", "tags.<key>"])
        raise ValueError(f"template {text!r}: unknown field {{{field}}}; allowed: {allowed}")
    _check_width(text, head, spec)
    if spec and head in _DATE_FIELDS:
        datetime(2000, 1, 1, tzinfo=UTC).strftime(spec)
    elif spec:
        try:
            format(1 if head == "size" else "x", spec)
        except ValueError:
            raise ValueError(
                f"template {text!r}: bad format spec {spec!r} for {{{head}}}"
            ) from None


def url_value(rendered_so_far: str, value: str) -> str:
    """A value inserted into a URL template: percent-encoded whole (``/``, ``?``, ``#``, ``&``
    and ``%`` included) once the template is past the URL's authority, so a file name like
    ``x?admin=1#`` or ``../../admin`` cannot change the URL's shape; left as it is before that
    (a template may start with ``{steps.<name>.url}``, a whole URL)."""
    scheme_end = rendered_so_far.find("://")
    rest = rendered_so_far[scheme_end + 3 :] if scheme_end >= 0 else ""
    in_path = (scheme_end < 0 and bool(rendered_so_far)) or any(ch in rest for ch in "/?#")
    if not in_path:
        return value
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:  # a name that is not UTF-8: left for the caller to refuse
        return value


def _check_width(text: str, head: str, spec: str) -> None:
    """Refuse a width or precision over :data:`MAX_FORMAT_WIDTH` (before trying the spec)."""
    if head in _DATE_FIELDS:
        numbers = _STRFTIME_WIDTH.findall(spec)
    else:
        match = _SPEC.match(spec)
        numbers = [n for n in match.groups() if n] if match else []
    if any(int(n) > MAX_FORMAT_WIDTH for n in numbers):
        raise ValueError(
            f"template {text!r}: width or precision over {MAX_FORMAT_WIDTH} in {{{head}:{spec}}}"
        )


def _lookup(values: Mapping[str, Any], field: str) -> Any:
    head, *rest = field.split(".")
    if head not in values:
        raise RoutingError(f"template field {{{field}}} has no value here")
    value = values[head]
    for part in rest:
        if not isinstance(value, Mapping) or part not in value:
            raise RoutingError(f"template field {{{field}}} has no value here")
        value = value[part]
    return value


def file_values(
    *,
    source: str,
    relpath: str,
    size: int,
    path: str = "",
    mtime_ns: int,
    detected_at: float,
    event_id: str = "",
    dedup_key: str = "",
    host: str = "",
    agent: str = "",
    route: str = "",
    sha256: str | None = None,
    tags: Mapping[str, str] | None = None,
    steps: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The values a template can use, for one file."""
    pure = PurePosixPath(relpath)
    parent = posixpath.dirname(relpath)
    return {
        "source": source,
        "relpath": relpath,
        "path": path,
        "name": pure.name,
        "stem": pure.stem,
        "ext": pure.suffix[1:],
        "dir": parent,
        "size": size,
        "sha256": sha256 or "",
        "date": datetime.fromtimestamp(detected_at, UTC),
        "mtime": datetime.fromtimestamp(mtime_ns / 1e9, UTC),
        "event_id": event_id,
        "dedup_key": dedup_key,
        "host": host,
        "agent": agent or host,
        "route": route,
        "tags": dict(tags or {}),
        "steps": {k: dict(v) for k, v in (steps or {}).items()},
    }


def safe_relative(rendered: str, what: str = "key") -> str:
    """Reject a rendered key/path that is absolute or climbs out with ``..``."""
    if not rendered or rendered.startswith("/") or "\\" in rendered or "\x00" in rendered:
        raise RoutingError(f"rendered {what} {rendered!r} is empty, absolute or not portable")
    parts = rendered.split("/")
    if any(p == ".." for p in parts):
        raise RoutingError(f"rendered {what} {rendered!r} escapes its root ('..')")
    return rendered
