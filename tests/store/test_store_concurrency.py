"""Several processes on one store at once — what several Celery worker processes do.

Each child process opens its own engine (engines are never shared across a fork), waits at a
barrier so all start together, and reports what it saw through a queue.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from collections.abc import Callable
from typing import Any

from filerelay.model import FileEvent
from filerelay.store import Store, Verdict, ensure_schema, make_engine
from tests.store.store_helpers import admit, listed, make_event, plan, record, step, steps_at

PROCESSES = 4
CTX = mp.get_context("fork")


def _child(url: str, barrier: Any, out: Any, work: Callable[[Store], object]) -> None:
    engine = make_engine(url)
    try:
        barrier.wait(timeout=30)
        out.put(("ok", work(Store(engine))))
    except Exception as exc:  # reported to the parent, which fails the test
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def run_together(url: str, works: list[Callable[[Store], object]]) -> list[object]:
    """Run each ``work(store)`` in its own process, all at once; their results in any order."""
    barrier, out = CTX.Barrier(len(works)), CTX.Queue()
    procs = [CTX.Process(target=_child, args=(url, barrier, out, w)) for w in works]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    errors = [r for kind, r in results if kind == "error"]
    assert not errors, errors
    return [r for _, r in results]


def test_racing_ingests_leave_one_primary_row_per_file_version(
    store: Store, migrated_db_url: str
) -> None:
    # given 10 file versions, each detected by every process (several watchers on one tree)
    versions = [make_event(f"f{i}.bin") for i in range(10)]
    batches = [[make_event(v.relpath, inode=v.inode) for v in versions] for _ in range(PROCESSES)]

    def ingest(events: list[FileEvent]) -> Callable[[Store], object]:
        verdict = Verdict([plan("r", step(0, "a"))], "h")
        return lambda s: [s.admit(e, verdict).recorded.is_new for e in events]

    # when all processes admit their events at the same time
    results = run_together(migrated_db_url, [ingest(b) for b in batches])
    # then each version has exactly one primary row and every other row points at it
    assert sum(sum(r) for r in results) == len(versions)  # type: ignore[call-overload]
    rows = listed(store)
    assert len(rows) == len(versions) * PROCESSES
    primaries = {r.dedup_key: r.id for r in rows if r.state != "duplicate"}
    assert len(primaries) == len(versions)
    for row in rows:
        if row.state == "duplicate":
            assert row.duplicate_of == primaries[row.dedup_key]


def test_racing_redeliveries_of_one_event_record_it_once(
    store: Store, migrated_db_url: str
) -> None:
    event = make_event("a.bin")
    results = run_together(migrated_db_url, [lambda s: record(s, event).state] * PROCESSES)
    assert results == ["queued"] * PROCESSES
    assert len(listed(store)) == 1


def test_racing_claims_of_one_step_let_exactly_one_win(store: Store, migrated_db_url: str) -> None:
    # given a step delivered to every process at once
    event = make_event("a.bin")
    (pid,) = admit(store, event, plan("r", step(0, "a")))
    (step_id,) = store.advance(pid).next_steps

    def claim(owner: str) -> Callable[[Store], object]:
        return lambda s: s.claim_step(step_id, owner, 60) is not None

    # when they all claim it / then one holds it
    results = run_together(migrated_db_url, [claim(f"w{i}") for i in range(PROCESSES)])
    assert Counter(results) == {True: 1, False: PROCESSES - 1}
    assert store.steps_of(pid)[0].attempts == 1


def test_siblings_finishing_at_once_still_advance_the_pipeline(
    store: Store, migrated_db_url: str
) -> None:
    # given two parallel steps, each claimed by its own worker
    event = make_event("a.bin")
    steps = [step(0, "a", 0), step(0, "b", 1), step(1, "after")]
    (pid,) = admit(store, event, plan("r", *steps))
    first, second = store.advance(pid).next_steps
    claims = {
        owner: store.claim_step(sid, owner, 60) for sid, owner in ((first, "w0"), (second, "w1"))
    }
    assert None not in claims.values()

    def finish(owner: str) -> Callable[[Store], object]:
        def work(s: Store) -> object:
            claim = claims[owner]
            assert claim is not None
            adv = s.succeed_step(claim, owner, {"by": owner})
            assert adv is not None
            return adv.next_steps

        return work

    # when both complete and advance at the same moment
    results = run_together(migrated_db_url, [finish("w0"), finish("w1")])
    # then the later one sees both done and hands out the next step
    after = steps_at(store, pid, 1)
    assert after in results
    assert store.pipelines_of(event.event_id)[0].current_position == 1


def test_processes_starting_on_an_empty_store_migrate_it_once(db_url: str) -> None:
    def start(s: Store) -> object:
        ensure_schema(s.engine, auto_upgrade=True)
        return True

    assert run_together(db_url, [start] * PROCESSES) == [True] * PROCESSES
