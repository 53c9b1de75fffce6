"""The SQLite store's write turn: one writer at a time across processes and threads, a
waiter woken as soon as the holder lets go, released when the holder dies."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

from filerelay.store.writelock import WriteLock


def _hold(database: str, seconds: float, taken: object, released: object = None) -> None:
    lock = WriteLock(database)
    with lock.held():
        taken.set()  # type: ignore[attr-defined]
        time.sleep(seconds)
        if released is not None:
            released.value = time.time()  # type: ignore[attr-defined]


def test_a_writer_in_another_process_waits_for_the_turn(tmp_path: Path):
    # given another process holding the turn for 0.5 s
    database = str(tmp_path / "store.db")
    forks = multiprocessing.get_context("fork")
    taken, released = forks.Event(), forks.Value("d", 0.0)
    other = forks.Process(target=_hold, args=(database, 0.5, taken, released))
    other.start()
    assert taken.wait(10)
    # when this process asks for it, then it gets it only once the other let go
    with WriteLock(database).held():
        got = time.time()
    other.join(10)
    assert 0 < released.value <= got
    assert (tmp_path / "store.db.write.lock").exists()


def test_a_dead_holder_releases_the_turn(tmp_path: Path):
    # given a process that dies (SIGKILL) while holding the turn
    database = str(tmp_path / "store.db")
    taken = multiprocessing.get_context("fork").Event()
    other = multiprocessing.get_context("fork").Process(target=_hold, args=(database, 60, taken))
    other.start()
    assert taken.wait(10)
    os.kill(other.pid or 0, 9)
    other.join(10)
    # then this process gets it at once
    started = time.monotonic()
    with WriteLock(database).held():
        assert time.monotonic() - started < 2.0


def test_threads_of_one_process_take_turns_and_a_nested_turn_passes(tmp_path: Path):
    lock = WriteLock(str(tmp_path / "store.db"))
    inside, most = 0, 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(20):
            with lock.held():
                with guard:
                    inside += 1
                    most = max(most, inside)
                with lock.held():  # re-entrant in its own thread
                    time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == 1
