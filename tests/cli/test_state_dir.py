"""`filerelay run` refuses a state dir it cannot use with one line naming it and exit 2: a state
dir that is a file, or one another `run` (or `watch`) holds. Real processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import stop_process
from tests.e2e.harness import Proc, clean_env, run_filerelay

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"


def assert_one_line_exit_2(result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    for needle in needles:
        assert needle in line


def test_a_state_dir_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    # given FILERELAY_STATE_DIR naming a regular file
    (tmp_path / "state").write_text("not a dir")
    env = clean_env(FILERELAY_STATE_DIR=str(tmp_path / "state"))
    # when `filerelay run` starts, then it refuses in one line naming the state dir
    result = run_filerelay(("run", "--config", str(QUICKSTART)), tmp_path, env)
    assert_one_line_exit_2(result, str(tmp_path / "state"), "not a directory")


@pytest.mark.slow  # a real `filerelay run`, then a second
def test_a_second_run_on_the_same_state_dir_is_one_line_and_exit_2(tmp_path):
    # given a `filerelay run` on a state dir
    env = clean_env(FILERELAY_STATE_DIR=str(tmp_path / "state"))
    argv = [sys.executable, "-m", "filerelay", "run", "--config", str(QUICKSTART)]
    first = Proc("run", argv, env, tmp_path, tmp_path / "run.log").start()
    try:
        first.wait_log("watcher_ready", 90)
        # when a second one starts on the same state dir
        result = run_filerelay(("run", "--config", str(QUICKSTART)), tmp_path, env)
        # then it refuses in one line naming the state dir and the holder, and the first runs on
        assert first.proc is not None
        assert_one_line_exit_2(result, str(tmp_path / "state"), f"pid {first.proc.pid}")
        assert first.proc.poll() is None
    finally:
        assert first.proc is not None
        stop_process(first.proc)
