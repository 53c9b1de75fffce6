"""Hostile or absurd config files are located errors, refused fast and small (issue 18)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, load_config, parse_config_text
from filerelay.config.yamlsrc import MAX_CONFIG_BYTES
from filerelay.errors import ConfigError

CATALOG = ActionCatalog.from_registry(default_registry())
HEAD = "sources:\n  - name: a\n    path: TMP\n"
ROUTE = "routes:\n  - name: r\n    steps:\n      - delete: {}\n"


def billion_laughs(levels: int = 6, width: int = 9) -> str:
    """``width`` aliases of ``width`` aliases ... ``levels`` deep (9^6: 531,441 leaves)."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return HEAD + ROUTE + "x-laughs:\n  " + "\n  ".join(lines) + "\n"


CASES = [
    (HEAD + "    tags: !foo {a: b}\n" + ROUTE, "rules.yaml:4: YAML tags are not allowed (!foo)"),
    (
        HEAD + ROUTE + "      - script: {argv: !!python/object/apply:os.system [id]}\n",
        "rules.yaml:8: YAML tags are not allowed (tag:yaml.org,2002:python/object/apply",
    ),
    (HEAD + "    silence: .nan\n" + ROUTE, "rules.yaml:4: sources[0].silence: nan is not allowed"),
    (HEAD + "    poll_interval: -.inf\n" + ROUTE, "rules.yaml:4: sources[0].poll_interval: -inf"),
    (
        HEAD + "    silence: 99999999999999999999d\n" + ROUTE,
        "rules.yaml:4: sources[0].silence: duration '99999999999999999999d' is over the limit",
    ),
    (HEAD + "    poll_interval: 0s\n" + ROUTE, "rules.yaml:4: sources[0].poll_interval: interval"),
    (
        HEAD + "    rescan_interval: 0\n" + ROUTE,
        "rules.yaml:4: sources[0].rescan_interval: interval",
    ),
    (
        HEAD + ROUTE + "      - move: {to: '/x/{name:>999999999}'}\n",
        "rules.yaml:8: routes[0].steps[1].move.to: template '/x/{name:>999999999}': width or "
        "precision over 1024",
    ),
    (
        HEAD + ROUTE + "      - move: {to: '/x/{date:%999999999Y}/{size:.99999f}'}\n",
        "rules.yaml:8: routes[0].steps[1].move.to: template",
    ),
    (billion_laughs(), "rules.yaml:14: aliases expand it to over 200000 nodes"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_hostile_config_is_a_located_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text.replace("TMP", str(tmp_path)), "rules.yaml", CATALOG)
    lines = [str(p) for p in info.value.problems]
    assert any(line.startswith(expected) for line in lines), lines


def test_billion_laughs_is_refused_fast_and_small(tmp_path: Path) -> None:
    text = billion_laughs().replace("TMP", str(tmp_path))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ConfigError, match="aliases expand it to over"):
            parse_config_text(text, "rules.yaml", CATALOG)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2.0  # was 44 s (and 1.2 GB)
    assert peak < 20 * 1024 * 1024


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    text = (
        f"sources:\n  - &a {{name: a, path: {tmp_path}, silence: 1s, include: &i ['*.txt']}}\n"
        f"  - {{<<: *a, name: b, include: *i}}\n" + ROUTE
    )
    model = parse_config_text(text, "rules.yaml", CATALOG)
    assert [(s.name, s.silence, s.include) for s in model.sources] == [
        ("a", 1.0, ["*.txt"]),
        ("b", 1.0, ["*.txt"]),
    ]


def test_a_config_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD.replace("TMP", str(tmp_path)) + ROUTE + "#" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"the file is over 4 MiB long"):
        load_config(path, CATALOG)
