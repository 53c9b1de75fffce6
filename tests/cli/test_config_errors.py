"""Bad config: every command refuses it before starting, exit 2, one clear line per problem."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.inprocess import invoke_filerelay
from tests.e2e.harness import clean_env, run_filerelay

GOOD_SOURCE = "sources:\n  - {name: a, path: SRC}\n"
COPY_ROUTE = "routes:\n  - name: r\n    steps:\n      - copy: {to: 'OUT/{relpath}'}\n"

BAD = {
    "malformed_yaml": (
        "sources:\n  - name: a\n    path: [SRC\n",
        "cfg.yaml:4: invalid YAML: while parsing a flow sequence (line 3)",
    ),
    "unknown_action": (
        GOOD_SOURCE + "routes:\n  - name: r\n    steps:\n      - cpy: {to: x}\n",
        "cfg.yaml:6: routes[0].steps[0]: unknown action 'cpy'; did you mean 'copy'?",
    ),
    "missing_env_var": (
        "connections:\n  s3:\n    type: s3\n    secret_access_key: ${FILERELAY_TEST_NOPE}\n"
        + GOOD_SOURCE
        + COPY_ROUTE,
        "cfg.yaml:4: connections.s3.secret_access_key: environment variable FILERELAY_TEST_NOPE "
        "is not set",
    ),
    "missing_source_path": (
        "sources:\n  - {name: a, path: SRC/nope}\n" + COPY_ROUTE,
        "cfg.yaml:2: sources[0].path: source path",
    ),
}


def run_cli(
    *args: str, cwd: Path, timeout_s: float = 60, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """The CLI with a clean environment: in this process, or with ``process`` in a process
    of its own (its own process group)."""
    env = clean_env(FILERELAY_STATE_DIR=str(cwd / "state"))
    if process:
        return run_filerelay(args, cwd, env, timeout_s)
    return invoke_filerelay(args, cwd, env)


def write_config(tmp_path: Path, text: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text.replace("SRC", str(src)).replace("OUT", str(tmp_path / "out")))
    return cfg


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize(
    "command", ["rules check", "watch --config", "worker --config", "run --config"]
)
def test_bad_config_exits_2_with_one_clear_line(tmp_path, case, command):
    text, expected = BAD[case]
    cfg = write_config(tmp_path, text)
    # the daemons in real processes: they hold the state dir until their process exits
    result = run_cli(*command.split(), str(cfg), cwd=tmp_path, process=command != "rules check")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def test_good_config_checks_ok_with_a_summary(tmp_path):
    cfg = write_config(tmp_path, GOOD_SOURCE + COPY_ROUTE)
    result = run_cli("rules", "check", str(cfg), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "route r: copy" in result.stdout


def test_missing_config_file_is_a_usage_error(tmp_path):
    result = run_cli("rules", "check", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.yaml: config file not found" in result.stderr
