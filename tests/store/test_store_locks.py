"""The reconciler's singleton lock on both databases."""

from __future__ import annotations

from sqlalchemy import Engine

from filerelay.store.locks import SingletonLock


def test_one_holder_at_a_time_and_release_hands_over(engine: Engine) -> None:
    first, second = SingletonLock(engine, "t"), SingletonLock(engine, "t")
    assert first.acquire() and first.acquire()  # re-entrant for its holder
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
