"""``filerelay config`` and ``filerelay agents``: a push and its status; bad input is one
line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from filerelay.cli import app


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    return {
        "FILERELAY_DATABASE_URL": sqlite_url,
        "FILERELAY_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"sources:\n  - {{name: a, path: '{tmp_path / 'src'}'}}\n"
        f"routes:\n  - name: r\n    steps:\n      - copy: {{to: '{tmp_path}/out/{{relpath}}'}}\n"
    )
    return path


def test_push_then_status(env: dict[str, str], cfg: Path) -> None:
    # when a config is pushed to every agent / then it is v1, the baseline
    pushed = CliRunner().invoke(app, ["config", "push", str(cfg)], env=env)
    assert pushed.exit_code == 0, pushed.output
    assert pushed.stdout.startswith("v1 (new version): promoted for every agent")
    status = CliRunner().invoke(app, ["config", "status"], env=env)
    assert status.exit_code == 0 and "baseline: v1" in status.stdout
    assert "rollout: none under way" in status.stdout
    as_json = CliRunner().invoke(app, ["config", "status", "--json"], env=env)
    assert json.loads(as_json.stdout)["baseline"]["version"] == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["config", "push", "missing.yaml"], "missing.yaml: cannot read"),
        (["config", "push", "CFG", "--agents", "a", "--canary", "5%"], "give one of --agents"),
        (["config", "push", "CFG", "--canary", "50%"], "push the first one to all agents"),
        (["config", "promote"], "no rollout is under way"),
        (["config", "rollback", "7"], "no config version 7"),
        (["agents", "list", "--label", "site"], "--label: 'site' is not a label"),
        (["config", "status", "LABELS"], "FILERELAY_AGENT_LABELS: 'x' is not a label"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str], cfg: Path, argv: list[str], expected: str
) -> None:
    if "LABELS" in argv:  # a bad label in the environment
        argv, env = argv[:-1], {**env, "FILERELAY_AGENT_LABELS": "x"}
    argv = [str(cfg) if a == "CFG" else a for a in argv]
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
