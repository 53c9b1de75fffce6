"""Leases are short and renewed while a step runs: a dead worker's claim lapses after the
lease (not the step's timeout), a live long step keeps its claim, and an attempt whose lease
was taken stops at its next checkpoint. Real store, real actions, a real process killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import update

from filerelay.actions.base import Action
from filerelay.actions.registry import BUILTIN_ACTIONS, Registry
from filerelay.pipeline.runner import ingest, run_step
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
from filerelay.store.schema import steps
from tests.conftest import migrated_sqlite, stop_process, wait_for
from tests.factories import event_of_file


class TickConfig(BaseModel):
    """Save a checkpoint every 50 ms, ``ticks`` times."""

    model_config = ConfigDict(extra="forbid")
    ticks: int = 100


class TickAction(Action[TickConfig]):
    name = "tick"
    Config = TickConfig
    done: list[int] = []

    def run(self, ctx):
        for i in range(self.config.ticks):
            ctx.save_checkpoint({"tick": i})
            TickAction.done.append(i)
            time.sleep(0.05)
        return {"ticks": self.config.ticks}


@pytest.fixture
def relay(tmp_path):
    """``relay(steps_yaml, lease_s)`` -> (runtime, the step id of one routed file)."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "f.txt").write_bytes(b"data")
    made = []

    def make(step_yaml: str, lease_s: float):
        cfg = tmp_path / "rules.yaml"
        cfg.write_text(
            f'sources:\n  - {{name: in, path: "{inbox}"}}\n'
            f"routes:\n  - name: r\n    steps:\n      - {step_yaml}\n"
            "defaults: {timeout: 10m, retry: {max_attempts: 3}}\n"
        )
        settings = load_settings(
            config=cfg,
            state_dir=tmp_path / "state",
            database_url=migrated_sqlite(tmp_path / "s.db"),
            lease_s=lease_s,
        )
        runtime = build_runtime(settings, Registry({**BUILTIN_ACTIONS, "tick": TickAction}))
        made.append(runtime)
        event = event_of_file(inbox / "f.txt", inbox, source="in")
        [msg] = ingest(runtime, event).enqueue
        return runtime, msg.step_id

    yield make
    for runtime in made:
        runtime.close()


@pytest.mark.slow
def test_a_step_running_longer_than_its_lease_keeps_its_claim(relay):
    # given a 1 s lease and a step that runs 4 s
    runtime, step_id = relay('script: {argv: ["sleep", "4"], pass_file_as_arg: false}', 1.0)
    runner = threading.Thread(target=run_step, args=(runtime, step_id))
    runner.start()
    wait_for(lambda: runtime.store.step_row(step_id).status == "running", 10)
    # when another worker tries to claim it all along (the reconciler would re-drive it)
    stolen = []
    while runner.is_alive():
        stolen.append(runtime.store.claim_step(step_id, "intruder", 1.0))
        time.sleep(0.2)
    runner.join()
    # then nobody took it: it succeeded on its first attempt
    assert [s for s in stolen if s is not None] == []
    row = runtime.store.step_row(step_id)
    assert (row.status, row.attempts) == ("succeeded", 1)


CLAIM_AND_HANG = """
import sys
from filerelay.pipeline.runner import run_step
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
settings = load_settings(config=sys.argv[1], state_dir=sys.argv[2], database_url=sys.argv[3])
run_step(build_runtime(settings), int(sys.argv[4]))
"""


@pytest.mark.slow  # waits out the default 30 s lease
def test_a_dead_workers_claim_lapses_after_the_default_lease_not_the_step_timeout(relay, tmp_path):
    # given a step with the default 10-minute timeout, claimed by a worker process
    runtime, step_id = relay('script: {argv: ["sleep", "120"], pass_file_as_arg: false}', 30.0)
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    args = [str(tmp_path / "rules.yaml"), str(tmp_path / "state"), f"sqlite:///{tmp_path}/s.db"]
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_HANG, *args, str(step_id)],
        env=env,
        start_new_session=True,
    )
    try:
        wait_for(lambda: runtime.store.step_row(step_id).status == "running", 30)
        # when the worker is SIGKILLed (its script too)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed_at = time.monotonic()
    finally:
        stop_process(proc)
    # then another worker can claim the step once the default lease lapsed (30 s)
    claim = wait_for(
        lambda: runtime.store.claim_step(step_id, "next-worker", 30.0), 45, 0.5, what="a claim"
    )
    waited_s = time.monotonic() - killed_at
    print(f"claim of a SIGKILLed worker lapsed after {waited_s:.1f}s (default lease)")
    assert claim.attempt == 2 and waited_s <= 31


def test_an_attempt_whose_lease_was_taken_stops_at_its_next_checkpoint(relay):
    # given a step that checkpoints every 50 ms for 5 s, with a 0.6 s lease (renewed 0.2 s)
    TickAction.done.clear()
    runtime, step_id = relay("tick: {ticks: 100}", 0.6)
    runner = threading.Thread(target=run_step, args=(runtime, step_id))
    runner.start()
    wait_for(lambda: len(TickAction.done) >= 5, 10)
    # when another worker holds the lease now (this one's was lost)
    with runtime.store.engine.begin() as conn:
        conn.execute(update(steps).where(steps.c.id == step_id).values(lease_owner="other"))
    runner.join(10)
    # then the attempt stopped soon after, without recording anything
    assert not runner.is_alive()
    assert len(TickAction.done) < 40
    row = runtime.store.step_row(step_id)
    assert (row.status, row.lease_owner, row.attempts) == ("running", "other", 1)
