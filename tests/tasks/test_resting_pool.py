"""The resting pool (filerelay.tasks.pool) on its own, with real processes: jobs handed over
the moment it rests, while its processes take their leave jobs, all run, each once."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from filerelay.tasks.pool import RestingPool
from tests.conftest import wait_for


def tagged(i: int) -> tuple[int, int]:
    return i, os.getpid()


@pytest.fixture
def pool():
    pool = RestingPool(processes=2, idle_exit_s=3600.0, threads=True, putlocks=True)
    try:
        yield pool
    finally:
        pool.terminate()


def test_jobs_handed_over_as_the_pool_rests_all_run_once(pool):
    rng = random.Random(23)
    results = []
    pids: set[int] = set()
    n = 0
    for _ in range(40):
        # given a pool with no job in it, resting (its leave jobs queued)
        wait_for(lambda: not pool._cache, 30, 0.01, what="the jobs handed back")
        with pool._resize:
            pool._rest()
        assert pool.resting
        # when jobs come at once or a moment later, while the processes leave
        time.sleep(rng.choice((0.0, 0.0, 0.002, 0.02)))
        for _ in range(rng.choice((1, 2, 5))):
            results.append((n, pool.apply_async(tagged, (n,))))
            n += 1
    # then every job ran, once, and the pool is whole again
    for i, result in results:
        done, pid = result.get(timeout=60)
        assert done == i
        pids.add(pid)
    assert not pool.resting and pool._processes == 2
    wait_for(lambda: len(pool._pool) == 2, 30, what="two processes")
    print(f"{n} jobs over 40 rests ran in {len(pids)} processes")
    assert len(pids) > 2  # processes did leave and new ones were forked


def test_a_resting_pool_keeps_no_process_and_forks_them_for_the_next_job(pool):
    # given a pool that rests
    first = {p.pid for p in pool._pool}
    with pool._resize:
        pool._rest()
    # then its processes leave, and none replaces them
    wait_for(lambda: (pool._maintain_pool() or True) and not pool._pool, 30, what="none left")
    # when a job comes, then two new processes run it
    done, pid = pool.apply_async(tagged, (7,)).get(timeout=60)
    assert done == 7 and pid not in first
    wait_for(lambda: len(pool._pool) == 2, 30, what="two processes")


def test_the_pool_rests_after_its_idle_spell_only(pool):
    # given a pool with a 0.5 s idle spell, busy
    pool.idle_exit_s = 0.5
    pool.apply_async(time.sleep, (1.5,))
    # when its upkeep runs while a job runs, then it does not rest
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        pool._maintain_pool()
        assert not pool.resting
        time.sleep(0.05)
    # and once idle for the spell, it does
    wait_for(lambda: (pool._maintain_pool() or True) and pool.resting, 30, what="rested")


def test_a_wake_forks_at_once_for_processes_still_leaving(pool):
    # given a resting pool whose two processes have taken their leave jobs
    before = {p.pid for p in pool._pool}
    with pool._resize:
        pool._rest()
    wait_for(lambda: pool._leaving.value == 2, 30, 0.005, what="both processes leaving")
    # when a job comes (billiard's supervisor may not have joined them yet)
    result = pool.apply_async(tagged, (3,))
    # then two new processes are there already, not at the supervisor's next pass
    fresh = [p for p in pool._pool if p.pid not in before]
    assert len(fresh) == 2, [p.pid for p in pool._pool]
    assert result.get(timeout=60)[0] == 3
    wait_for(lambda: len(pool._pool) == 2, 30, what="the leavers joined")


def test_a_job_waiting_for_a_slot_keeps_the_pool_awake():
    # given a one-process pool with a short idle spell, its one slot held by a job that its
    # hard time limit will kill (billiard frees that slot when it joins the killed process)
    pool = RestingPool(
        processes=1, idle_exit_s=0.3, threads=True, putlocks=True, timeout=1.0, enable_timeouts=True
    )
    try:
        pool.apply_async(time.sleep, (30,))
        wait_for(lambda: any(job._accepted for job in pool._cache.values()), 30, what="running")
        # when another job is handed over meanwhile (waiting for the slot)
        waiting: dict[str, object] = {}
        thread = threading.Thread(
            target=lambda: waiting.update(result=pool.apply_async(tagged, (2,))), daemon=True
        )
        thread.start()
        # then the pool does not rest under it: the job gets its slot and runs
        thread.join(60)
        assert not thread.is_alive(), "the job never got a slot"
        assert waiting["result"].get(timeout=60)[0] == 2  # type: ignore[attr-defined]
    finally:
        pool.terminate()


def test_a_pool_stopped_as_it_rests_stops_at_once(pool):
    # given a pool that has just queued its leave jobs
    with pool._resize:
        pool._rest()
    # when it is closed and joined at once (a warm stop), then it does not wait on the
    # answers to the leave jobs, which nobody reads any more (billiard's 30 s)
    started = time.monotonic()
    pool.close()
    pool.join()
    assert time.monotonic() - started < 10
