"""YAML with positions: plain Python data plus the line of every node, for located errors.

Before anything is built the text is checked in one pass over the parser's events, so that a
hostile or broken file is a located error and never a crash or an exhaustion: it may be at
most :data:`MAX_CONFIG_BYTES` long; it may hold no tag (``!foo`` or
``!!python/object/apply`` used to reach the loader as objects nobody expected, a TypeError in
a live reload); its aliases may expand to at most :data:`MAX_NODES` nodes (nine nested
aliases of nine — "billion laughs" — took 44 s and 1.2 GB to parse before); and ``.nan`` /
``.inf`` are refused wherever they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)

from filerelay.errors import ConfigError, ConfigProblem

Path_ = tuple[str | int, ...]

MAX_CONFIG_BYTES = 4 * 1024 * 1024
# nodes of the document once every alias is expanded (a big config has a few thousand)
MAX_NODES = 200_000


@dataclass
class YamlDoc:
    """Parsed YAML: ``data`` as plain dicts/lists/scalars and ``lines`` by node path (1-based)."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of the deepest node on ``path`` that exists in the document."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def resolve(self, loc: tuple[Any, ...], tags: frozenset[str] = frozenset()) -> Path_:
        """Map a validation ``loc`` onto document keys, dropping the union ``tags`` pydantic adds
        (a step's action name, a connection's type) where they are not a key of the data."""
        node, out = self.data, []
        for i, part in enumerate(loc):
            nxt = loc[i + 1] if i + 1 < len(loc) else None
            if part in tags and isinstance(node, dict) and (part not in node or nxt == part):
                continue
            if part in tags and isinstance(node, dict) and _sibling(node, part, nxt):
                continue  # a step's own key (timeout, rate_limit) beside its action key
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if (isinstance(node, dict) and part in node) or in_list:
                node = node[part]
                out.append(part)
            else:
                out.append(part)
                node = None
        return tuple(out)


def _sibling(node: dict[Any, Any], tag: Any, nxt: Any) -> bool:
    """Whether ``nxt`` is a key beside ``tag`` in ``node`` rather than inside its value."""
    inner = node.get(tag)
    return nxt is not None and nxt in node and not (isinstance(inner, dict) and nxt in inner)


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_yaml(text: str, file: str) -> YamlDoc:
    """Parse ``text``; a syntax error, a tag, too many nodes or a NaN becomes a ConfigError
    with its line."""
    if len(text) > MAX_CONFIG_BYTES:  # also a version text from the store
        raise ConfigError([ConfigProblem(file, None, "", f"the file is over {_LIMIT} long")])
    yaml = YAML(typ="rt", pure=True)
    try:
        _check_events(yaml, text, file)
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context_mark is not None:
            reason = f"{exc.context} (line {exc.context_mark.line + 1}): {exc.problem}"
        raise ConfigError([ConfigProblem(file, line, "", f"invalid YAML: {reason}")]) from None
    except ConfigError:
        raise
    except Exception as exc:  # ruamel raises a few non-marked errors (e.g. duplicate keys)
        raise ConfigError([ConfigProblem(file, None, "", f"invalid YAML: {exc}")]) from None
    doc = YamlDoc(file=file, data=None)
    try:
        doc.data = _plain(root, (), doc.lines, 1)
    except _NotFinite as exc:
        where = format_path(exc.path)
        problem = f"{exc.value} is not allowed (a number must be finite)"
        raise ConfigError([ConfigProblem(file, exc.line, where, problem)]) from None
    if doc.data is None:
        raise ConfigError([ConfigProblem(file, None, "", "the file is empty")])
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigProblem(file, 1, "", "the top level must be a mapping")])
    return doc


class _NotFinite(Exception):
    def __init__(self, line: int, path: Path_, value: float) -> None:
        super().__init__(value)
        self.line, self.path, self.value = line, path, value


_LIMIT = f"{MAX_CONFIG_BYTES // (1024 * 1024)} MiB"


def _check_events(yaml: YAML, text: str, file: str) -> None:
    """Refuse tags and an alias expansion past :data:`MAX_NODES`, from the parser's events
    (nothing is built yet, so a billion laughs costs its text's length, not its expansion)."""
    sizes: dict[str, int] = {}  # anchor -> nodes under it, expanded
    open_: list[tuple[str | None, int]] = []  # collections being read: (anchor, nodes so far)
    total = 0
    for event in yaml.parse(text):
        if not isinstance(event, NodeEvent | CollectionEndEvent):
            continue
        line = event.start_mark.line + 1 if event.start_mark else None
        tag = getattr(event, "tag", None)
        if tag is not None:  # even !!str: ruamel's round trip builds a TaggedScalar of it
            reason = f"YAML tags are not allowed ({tag}); quote the value to make it a string"
            raise ConfigError([ConfigProblem(file, line, "", reason)])
        if isinstance(event, CollectionStartEvent):
            open_.append((event.anchor, 1))
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, count = open_.pop()
        elif isinstance(event, AliasEvent):
            anchor, count = None, sizes.get(str(event.anchor), 1)
        else:
            anchor, count = (event.anchor if isinstance(event, ScalarEvent) else None), 1
        if anchor is not None:
            sizes[str(anchor)] = count
        if open_:
            open_[-1] = (open_[-1][0], open_[-1][1] + count)
        total += count if isinstance(event, AliasEvent) else 1
        if total > MAX_NODES or (open_ and open_[-1][1] > MAX_NODES):
            reason = f"aliases expand it to over {MAX_NODES} nodes"
            raise ConfigError([ConfigProblem(file, line, "", reason)])


def _plain(node: Any, path: Path_, lines: dict[Path_, int], line: int) -> Any:
    lines.setdefault(path, line)
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            try:
                key_line = node.lc.key(key)[0] + 1
            except KeyError:  # a key merged in with '<<: *anchor' has no position here
                key_line = line
            out[key] = _plain(value, (*path, key), lines, key_line)
        return out
    if isinstance(node, CommentedSeq):
        return [
            _plain(value, (*path, i), lines, node.lc.item(i)[0] + 1) for i, value in enumerate(node)
        ]
    if isinstance(node, dict):
        return {k: _plain(v, (*path, k), lines, line) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, (*path, i), lines, line) for i, v in enumerate(node)]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        if not math.isfinite(node):
            raise _NotFinite(line, path, node)
        return float(node)
    return node
