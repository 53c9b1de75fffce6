"""Limits in the store: token buckets, the breaker state machine (with an injected clock) and
deferred steps that give their attempt back — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from filerelay.store import Store
from filerelay.store.limits import CLOSED, HALF_OPEN, OPEN, LimitStore
from tests.store.store_helpers import admit, make_event, plan, step, steps_at

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DEST = "host:hooks.example"
LAPSED = "connection:s3"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_bucket_gives_its_capacity_then_refills_and_never_a_token_twice(engine: Engine) -> None:
    # given an empty store and a bucket of 10 tokens/s holding at most 2
    limits = LimitStore(engine)
    # when three tokens are taken at the same instant
    waits = [limits.take_token("k", 10.0, 2.0, 1000.0) for _ in range(3)]
    # then two are there, and the third is 0.1 s away
    assert waits[:2] == [0.0, 0.0]
    assert abs(waits[2] - 0.1) < 1e-6
    # and 0.1 s later one token has refilled; another bucket is separate
    assert limits.take_token("k", 10.0, 2.0, 1000.1) == 0.0
    assert limits.take_token("other", 10.0, 2.0, 1000.1) == 0.0
    # given a bucket of 5 tokens at a frozen instant, and 4 threads taking at once
    taken: list[float] = []

    def take() -> None:
        for _ in range(5):
            taken.append(limits.take_token("shared", 1.0, 5.0, 50.0))

    threads = [threading.Thread(target=take) for _ in range(4)]
    # when they all try 5 times
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly the 5 tokens were given out
    assert sum(1 for w in taken if w == 0.0) == 5


def test_breaker_opens_after_consecutive_failures_and_probes_after_cool_down(
    engine: Engine,
) -> None:
    # given a breaker of 3 failures and a 30 s cool-down
    limits = LimitStore(engine)
    assert limits.breaker_permit(DEST, "w1", at(0), 30).allowed
    # when two failures, a success, then three failures happen
    assert not limits.breaker_failure(DEST, "w1", at(1), 3, 30, "503")
    assert not limits.breaker_failure(DEST, "w1", at(2), 3, 30, "503")
    assert limits.breaker_success(DEST, at(3)) is None  # a closed breaker's count restarts
    opened = [limits.breaker_failure(DEST, "w1", at(4 + i), 3, 30, "503") for i in range(3)]
    # then only the third consecutive failure opened it, until 30 s later
    assert opened == [False, False, True]
    held = limits.breaker_permit(DEST, "w2", at(10), 30)
    assert (held.allowed, held.state, held.until) == (False, OPEN, at(36))
    # when the cool-down ended: one probe goes, the others wait for it
    probe = limits.breaker_permit(DEST, "w2", at(36), 30)
    other = limits.breaker_permit(DEST, "w3", at(36.5), 30)
    assert (probe.allowed, probe.probe, probe.state) == (True, True, HALF_OPEN)
    assert (other.allowed, other.state) == (False, HALF_OPEN)
    # when the probe fails: open again for a full cool-down
    assert limits.breaker_failure(DEST, "w2", at(37), 3, 30, "503")
    assert limits.breaker_permit(DEST, "w3", at(50), 30).until == at(67)
    # when the next probe succeeds: closed, everyone goes
    assert limits.breaker_permit(DEST, "w3", at(67), 30).probe
    assert limits.breaker_success(DEST, at(68)) == HALF_OPEN
    assert limits.breaker_permit(DEST, "w4", at(68), 30).allowed
    (row,) = limits.breakers()
    assert (row.state, row.failures, row.opens) == (CLOSED, 0, 2)

    # given another destination, open past its cool-down and probed by w1
    limits.breaker_failure(LAPSED, "w0", at(0), 1, 10, "timeout")
    assert limits.breaker_permit(LAPSED, "w1", at(10), 5).probe
    # when w1's probe lapses (its worker died): w2 probes
    assert limits.breaker_permit(LAPSED, "w2", at(16), 5).probe
    # when w2 releases its probe (a permanent error of its file): w3 probes at once
    assert limits.release_probe(LAPSED, "w2", at(17))
    assert limits.breaker_permit(LAPSED, "w3", at(17), 5).probe
    # and a failure of a step that was not the probe does not reopen it
    assert not limits.breaker_failure(LAPSED, "w9", at(18), 1, 10, "late")


def test_deferred_step_gives_its_attempt_back(engine: Engine) -> None:
    # given a claimed step (attempt 1)
    store, limits = Store(engine), LimitStore(engine)
    (pid,) = admit(store, make_event("d.bin"), plan("r", step(0, "hook", max_attempts=2)))
    (sid,) = steps_at(store, pid, 0)
    for _ in range(3):
        claim = store.claim_step(sid, "w1", 30)
        assert claim is not None and claim.attempt == 1
        # when it is deferred (again and again)
        until = datetime.now(UTC) - timedelta(seconds=1)
        assert limits.defer_step(sid, "w1", "waiting: breaker open", until)
    # then its attempts never grew, and the row says why it waits
    row = next(s for s in store.steps_of(pid) if s.id == sid)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, "waiting: breaker open")
    # and a worker that lost the lease cannot defer it
    assert store.claim_step(sid, "w2", 30) is not None
    assert not limits.defer_step(sid, "w1", "late", until)
