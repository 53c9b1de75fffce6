"""YAML with positions: plain Python data plus the line of every node, for located errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from filerelay.errors import ConfigError, ConfigProblem

Path_ = tuple[str | int, ...]


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
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if (isinstance(node, dict) and part in node) or in_list:
                node = node[part]
                out.append(part)
            else:
                out.append(part)
                node = None
        return tuple(out)


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_yaml(text: str, file: str) -> YamlDoc:
    """Parse ``text``; a syntax error becomes a ConfigError with its line."""
    yaml = YAML(typ="rt", pure=True)
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context_mark is not None:
            reason = f"{exc.context} (line {exc.context_mark.line + 1}): {exc.problem}"
        raise ConfigError([ConfigProblem(file, line, "", f"invalid YAML: {reason}")]) from None
    except Exception as exc:  # ruamel raises a few non-marked errors (e.g. duplicate keys)
        raise ConfigError([ConfigProblem(file, None, "", f"invalid YAML: {exc}")]) from None
    doc = YamlDoc(file=file, data=None)
    doc.data = _plain(root, (), doc.lines, 1)
    if doc.data is None:
        raise ConfigError([ConfigProblem(file, None, "", "the file is empty")])
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigProblem(file, 1, "", "the top level must be a mapping")])
    return doc


def _plain(node: Any, path: Path_, lines: dict[Path_, int], line: int) -> Any:
    lines.setdefault(path, line)
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            key_line = node.lc.key(key)[0] + 1
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
        return float(node)
    return node
