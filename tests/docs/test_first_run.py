"""A new user's first steps: the README says how to make a virtual environment, git ignores
it, and `make quickstart` installs filerelay only when it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_readme_installs_into_a_venv_that_git_ignores() -> None:
    assert "python3 -m venv .venv && . .venv/bin/activate" in (ROOT / "README.md").read_text()
    assert ".venv/" in (ROOT / ".gitignore").read_text().splitlines()


def test_make_quickstart_does_not_reinstall_an_installed_filerelay(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make here")
    # given a "python" that records how it is called and has filerelay importable
    calls = tmp_path / "calls"
    shim = tmp_path / "python"
    shim.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {sys.executable} -c pass\n')
    shim.chmod(0o755)
    # when `make quickstart` runs with it
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "quickstart", f"PYTHON={shim}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then it checks the import and runs filerelay, and never calls pip
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    assert not any("pip" in line for line in lines), lines
    assert any("-m filerelay run" in line for line in lines), lines
