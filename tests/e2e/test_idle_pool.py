"""An idle `filerelay run` on the embedded broker lets its pool processes exit
(FILERELAY_WORKER_IDLE_EXIT_S) and forks them again for the next file, losing none: files
that arrive while the processes leave, or just after, are all delivered. Real processes."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import psutil
import pytest

from filerelay.store import Store, make_engine
from tests.conftest import wait_for
from tests.e2e.harness import Proc
from tests.e2e.test_run_stop import QUICKSTART, start_run, time_sigterm
from tests.store.store_helpers import events_by_relpath

pytestmark = pytest.mark.slow


def worker_of(run: Proc) -> psutil.Process:
    assert run.proc is not None
    workers = [p for p in psutil.Process(run.proc.pid).children() if "worker" in p.cmdline()]
    assert len(workers) == 1, workers
    return workers[0]


def pool_size(run: Proc) -> int:
    return len(worker_of(run).children())


def drop(inbox: Path, name: str) -> bytes:
    data = os.urandom(2_000) + name.encode()
    (inbox / name).write_bytes(data)
    return data


def assert_delivered(tmp_path: Path, sent: dict[str, bytes]) -> None:
    outbox = tmp_path / "outbox"

    def all_there() -> bool:
        return all(
            (outbox / name).exists() and (outbox / name).read_bytes() == data
            for name, data in sent.items()
        )

    wait_for(all_there, 90, what=f"{len(sent)} files in ./outbox")
    store = Store(make_engine(f"sqlite:///{tmp_path / '.filerelay' / 'filerelay.db'}"))

    def all_succeeded() -> bool:
        for name in sent:
            rows = events_by_relpath(store, "inbox", name)
            if not rows or rows[-1].state != "succeeded":
                return False
        return True

    wait_for(all_succeeded, 60, what="every event succeeded")


def test_an_idle_run_rests_its_pool_and_wakes_it_for_the_next_file(tmp_path):
    # given the quickstart with a 2 s idle spell
    run = start_run(tmp_path, QUICKSTART, FILERELAY_WORKER_IDLE_EXIT_S="2")
    try:
        assert pool_size(run) == 2
        # when nothing comes for 2 s, then the pool processes exit: the worker has no children
        run.wait_log("pool_resting", 60)
        wait_for(lambda: pool_size(run) == 0, 30, what="the pool processes gone")
        rested_at = len(run.log())
        # when a file comes, then the pool wakes and the file is copied and recorded
        sent = {"after-rest.bin": drop(tmp_path / "inbox", "after-rest.bin")}
        assert_delivered(tmp_path, sent)
        assert "pool_waking" in run.log()[rested_at:]
        # and it rests again once idle
        run.wait_log("pool_resting", 60, after=rested_at)
        wait_for(lambda: pool_size(run) == 0, 30, what="the pool processes gone again")
    finally:
        run.stop()
    log = run.log()
    assert "Traceback" not in log and "WorkerLostError" not in log
    assert "exited with" not in log  # billiard's line for a process that died


def test_files_arriving_as_the_pool_rests_are_all_delivered(tmp_path):
    # given a run whose pool rests after 1 s, so that files keep coming around each rest
    run = start_run(tmp_path, QUICKSTART, FILERELAY_WORKER_IDLE_EXIT_S="1")
    inbox = tmp_path / "inbox"
    sent: dict[str, bytes] = {}
    rng = random.Random(1616)
    try:
        # when files come at the moment the pool rests (its leave jobs queued, its processes
        # leaving) and at gaps around the idle spell
        for round_ in range(6):
            after = len(run.log())
            run.wait_log("pool_resting", 60, after=after)
            for i in range(rng.choice((1, 5, 20))):
                name = f"r{round_}-{i}.bin"
                sent[name] = drop(inbox, name)
            time.sleep(rng.uniform(0.0, 1.5))  # (files spread over the rest, on purpose)
            name = f"r{round_}-late.bin"
            sent[name] = drop(inbox, name)
        # then every file is copied with its bytes and recorded as succeeded
        assert_delivered(tmp_path, sent)
        log = run.log()
        assert log.count("pool_waking") >= 6
        # and an idle run still stops at once
        assert time_sigterm(run, 5) < 5
    finally:
        run.stop()
    assert "Traceback" not in log and "WorkerLostError" not in log
    assert "exited with" not in log


def test_a_resting_run_stops_at_once(tmp_path):
    # given a run whose pool has rested
    run = start_run(tmp_path, QUICKSTART, FILERELAY_WORKER_IDLE_EXIT_S="1")
    try:
        run.wait_log("pool_resting", 60)
        wait_for(lambda: pool_size(run) == 0, 30, what="the pool processes gone")
        # when it is sent SIGTERM, then it stops within 5 s, saying it waits for nothing
        assert time_sigterm(run, 5) < 5
    finally:
        run.stop()
    assert "waiting_for=nothing" in run.log()
    assert "Traceback" not in run.log()


def test_a_run_with_no_idle_spell_keeps_its_pool(tmp_path):
    # given FILERELAY_WORKER_IDLE_EXIT_S=0
    run = start_run(tmp_path, QUICKSTART, FILERELAY_WORKER_IDLE_EXIT_S="0")
    try:
        # when it sits idle longer than a rest would take, then both processes are still there
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert pool_size(run) == 2
            time.sleep(0.5)
    finally:
        run.stop()
    assert "pool_resting" not in run.log()
