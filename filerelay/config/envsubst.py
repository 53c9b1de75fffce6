"""``${NAME}`` in YAML strings reads the environment, or the file named by ``NAME_FILE``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filerelay.config.yamlsrc import Path_

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(
    data: Any, env: Mapping[str, str] | None = None, path: Path_ = ()
) -> tuple[Any, list[tuple[Path_, str]]]:
    """Replace ``${NAME}`` everywhere; returns the new data and (path, message) problems."""
    env = os.environ if env is None else env
    problems: list[tuple[Path_, str]] = []

    def walk(node: Any, where: Path_) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*where, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*where, i)) for i, v in enumerate(node)]
        if isinstance(node, str) and "${" in node:
            return _VAR.sub(lambda m: _value(m.group(1), env, where, problems), node)
        return node

    return walk(data, path), problems


def references(text: str) -> set[str]:
    """The names of the ``${NAME}`` references in ``text``."""
    return set(_VAR.findall(text))


def _value(
    name: str, env: Mapping[str, str], where: Path_, problems: list[tuple[Path_, str]]
) -> str:
    if name in env:
        return env[name]
    file_var = f"{name}_FILE"
    if file_var in env:
        try:
            return Path(env[file_var]).read_text().rstrip("\n")
        except OSError as exc:
            problems.append((where, f"cannot read {file_var}={env[file_var]}: {exc.strerror}"))
            return ""
    problems.append((where, f"environment variable {name} is not set (nor {file_var})"))
    return ""
