"""`filerelay run` stops promptly on SIGTERM: within 5 s when idle, and within the
soft-shutdown window when a step runs, saying what it waits for. Real processes."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from filerelay.store import Store, make_engine
from tests.conftest import wait_for
from tests.e2e.harness import Proc, clean_env
from tests.store.store_helpers import events_by_relpath

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"

SLOW_STEP = """\
sources:
  - {name: inbox, path: ./inbox, create: true, silence: 300ms}
routes:
  - name: slow
    steps:
      - script: {argv: ["sleep", "120"], pass_file_as_arg: false}
"""


def start_run(tmp_path: Path, config: Path, **env: str) -> Proc:
    proc = Proc(
        "run",
        [sys.executable, "-m", "filerelay", "run", "--config", str(config)],
        clean_env(**env),
        tmp_path,
        tmp_path / "run.log",
    ).start()
    try:
        proc.wait_log("watcher_ready", 90)
        proc.wait_log("worker_ready", 90)  # the worker child's start-up line
    except BaseException:
        proc.stop()  # a run that never got ready is stopped all the same
        raise
    return proc


def time_sigterm(proc: Proc, limit_s: float) -> float:
    """SIGTERM ``run`` (not its group: the worker child is its to stop); seconds to exit."""
    assert proc.proc is not None
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    proc.proc.wait(limit_s + 30)
    return time.monotonic() - started


def test_an_idle_run_stops_within_5_s(tmp_path):
    # given the quickstart, idle
    proc = start_run(tmp_path, QUICKSTART)
    try:
        # when it is sent SIGTERM
        took = time_sigterm(proc, 5)
    finally:
        proc.stop()
    print(f"idle `filerelay run` stopped {took:.1f}s after SIGTERM")
    # then it stopped within 5 s, its worker with it, and said so
    assert took < 5
    assert "worker_stopping" in proc.log() and "waiting_for=nothing" in proc.log()
    assert "Traceback" not in proc.log()


def test_a_run_with_a_step_running_stops_within_its_soft_shutdown_window(tmp_path):
    # given a run whose worker runs a 2-minute step, with a 3 s soft-shutdown window
    config = tmp_path / "slow.yaml"
    config.write_text(SLOW_STEP)
    proc = start_run(tmp_path, config, FILERELAY_SOFT_SHUTDOWN_S="3")
    store = Store(make_engine(f"sqlite:///{tmp_path / '.filerelay' / 'filerelay.db'}"))
    try:
        (tmp_path / "inbox" / "long.bin").write_bytes(os.urandom(100))
        wait_for(lambda: running(store), 60, 0.1, what="a running step")
        # when it is sent SIGTERM
        took = time_sigterm(proc, 3 + 5)
    finally:
        proc.stop()
    print(f"`filerelay run` with a step running stopped {took:.1f}s after SIGTERM (window 3 s)")
    # then it waited out the window (saying for what), then stopped the step (its script
    # too) and handed it back for another attempt
    log = proc.log()
    assert 3 <= took < 3 + 5
    [line] = [ln for ln in log.splitlines() if "worker_stopping" in ln]
    assert "long.bin" in line and "up_to_s=3" in line
    assert "worker_stop_forced" in log
    assert "Traceback" not in log, log
    assert not pgrep_sleep_120(tmp_path)
    [step] = the_steps(store)
    assert (step.status, step.attempts, step.lease_owner) == ("pending", 1, None)
    store.engine.dispose()


def the_steps(store: Store) -> list:
    """The steps of the one file's pipelines ([] before it was routed)."""
    events = events_by_relpath(store, "inbox", "long.bin")
    return [s for e in events for p in store.timeline(e.id) for s in p.steps]


def running(store: Store) -> bool:
    return any(s.status == "running" for s in the_steps(store))


def pgrep_sleep_120(tmp_path: Path) -> bool:
    """Is the step's script still running (orphaned by its stopped worker)?"""
    for proc in Path("/proc").iterdir():
        try:
            ours = proc.name.isdigit() and (proc / "cwd").resolve() == tmp_path.resolve()
            if ours and (proc / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"120"]:
                return True
        except OSError:
            continue
    return False
