"""Pipelines: creation (idempotent, reprocess), advancing across positions and branches, and
the event's final state — driven as the ingest and step tasks drive them."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from filerelay.errors import StoreError
from filerelay.model import FileEvent
from filerelay.store import Advance, RoutePlan, Store, Verdict, pipelines
from filerelay.store.db import utcnow
from tests.store.store_helpers import (
    admit,
    fail_step,
    make_event,
    plan,
    record,
    run_step,
    step,
    steps_at,
)


def recorded(store: Store, relpath: str = "a.bin") -> FileEvent:
    event = make_event(relpath)
    record(store, event)
    return event


def create(engine: Engine, event_id: str, plans: list[RoutePlan]) -> list[int]:
    """The pipeline-creating query ``admit`` runs for a queued event, on its own."""
    with engine.begin() as conn:
        return pipelines.create(conn, event_id, plans, "h", utcnow())


def test_admitting_records_steps_and_starts_processing(store: Store) -> None:
    # given a queued event and two matched routes
    event = recorded(store)
    event_id = event.event_id
    plans = [
        plan("video", step(0, "s3"), step(1, "hook", 0), step(1, "mq", 1)),
        plan("audit", step(0, "log", max_attempts=5)),
    ]
    # when the pipelines are created
    ids = admit(store, event, *plans, config_hash="cfg1")
    # then one running pipeline per route, with its steps pending, and the event processing
    pipes = store.pipelines_of(event_id)
    assert [p.id for p in pipes] == ids
    assert [(p.route, p.run, p.status, p.current_position, p.config_hash) for p in pipes] == [
        ("video", 1, "running", 0, "cfg1"),
        ("audit", 1, "running", 0, "cfg1"),
    ]
    steps = store.steps_of(ids[0])
    assert [(s.position, s.branch, s.name, s.status, s.attempts) for s in steps] == [
        (0, 0, "s3", "pending", 0),
        (1, 0, "hook", "pending", 0),
        (1, 1, "mq", "pending", 0),
    ]
    dedup_key = store.get_event(event_id).dedup_key
    assert steps[0].idempotency_key == f"{dedup_key}:video:s3"
    assert store.steps_of(ids[1])[0].max_attempts == 5
    assert store.get_event(event_id).state == "processing"
    assert steps_at(store, ids[0], 1) == [steps[1].id, steps[2].id]


def test_admitting_again_is_idempotent(store: Store) -> None:
    # given pipelines created for an event
    event = recorded(store)
    plans = [plan("video", step(0, "s3")), plan("audit", step(0, "log"))]
    ids = admit(store, event, *plans)
    # when the ingest is redelivered and admits it again
    again = admit(store, event, *plans)
    # then nothing was inserted: the same pipelines are there
    assert again == []
    assert [p.id for p in store.pipelines_of(event.event_id)] == ids


def test_reprocessed_event_gets_a_new_run(store: Store) -> None:
    # given an event whose run failed and was queued again
    event = recorded(store)
    event_id = event.event_id
    (first,) = admit(store, event, plan("r", step(0, "a")))
    (sid,) = store.advance(first).next_steps
    fail_step(store, sid, "boom")
    assert store.set_event_state(event_id, "queued")
    # when the pipelines are created again
    (second,) = admit(store, event, plan("r", step(0, "a")), config_hash="h2")
    # then run 2 runs from the start while run 1 stays as it was
    assert second != first
    assert [(p.run, p.status) for p in store.pipelines_of(event_id)] == [
        (1, "failed"),
        (2, "running"),
    ]
    assert admit(store, event, plan("r", step(0, "a")), config_hash="h2") == []
    assert [p.id for p in store.pipelines_of(event_id)] == [first, second]


@pytest.mark.parametrize(
    ("plans", "error", "match"),
    [
        ([], ValueError, "no route plans"),
        ([RoutePlan("r", [])], ValueError, "has no steps"),
        ([plan("r", step(0, "a"), step(1, "a"))], ValueError, "duplicate step names"),
    ],
)
def test_unrunnable_plans_are_refused(
    store: Store, engine: Engine, plans: list[RoutePlan], error: type[Exception], match: str
) -> None:
    event_id = recorded(store).event_id
    with pytest.raises(error, match=match):
        create(engine, event_id, plans)
    assert store.get_event(event_id).state == "queued"


def test_pipelines_for_a_finished_or_unknown_event_are_refused(
    store: Store, engine: Engine
) -> None:
    event_id = recorded(store).event_id
    store.set_event_state(event_id, "skipped")
    with pytest.raises(StoreError, match="illegal event transition skipped -> processing"):
        create(engine, event_id, [plan("r", step(0, "a"))])
    with pytest.raises(StoreError, match="no event nope"):
        create(engine, "nope", [plan("r", step(0, "a"))])


def test_advance_walks_the_positions_then_finishes(store: Store) -> None:
    # given a three-step chain (positions need not be contiguous)
    event = recorded(store)
    event_id = event.event_id
    (pid,) = admit(store, event, plan("r", step(0, "a"), step(1, "b"), step(5, "c")))
    a, b, c = (s.id for s in store.steps_of(pid))
    # when advanced before anything ran / then it hands out the first step
    assert store.advance(pid) == Advance([a], "running", None)
    assert store.advance(pid) == Advance([a], "running", None)  # twice is fine
    # and once a step succeeded, the next one; claimed steps are not handed out again
    run_step(store, a, {"key": "k1"})
    assert store.advance(pid) == Advance([b], "running", None)
    claim_b = store.claim_step(b, "w", 60)
    assert claim_b is not None
    assert store.advance(pid) == Advance([], "running", None)
    assert store.succeed_step(claim_b, "w", {}) is not None
    assert store.advance(pid) == Advance([c], "running", None)
    run_step(store, c)
    # then the last one finishes the pipeline and the event
    assert store.advance(pid) == Advance([], "succeeded", "succeeded")
    assert store.advance(pid) == Advance([], "succeeded", "succeeded")
    (pipe,) = store.pipelines_of(event_id)
    assert pipe.finished_at is not None and pipe.current_position == 5
    assert store.get_event(event_id).state == "succeeded"


def test_parallel_siblings_both_finish_before_the_next_position(store: Store) -> None:
    # given two branches at position 0 and a step after them, both branches claimed
    event = recorded(store)
    (pid,) = admit(store, event, plan("r", step(0, "hook", 0), step(0, "mq", 1), step(1, "move")))
    hook, mq = store.advance(pid).next_steps
    claims = {sid: store.claim_step(sid, "w", 60) for sid in (hook, mq)}
    assert None not in claims.values()
    # when one branch is done / then the next position waits
    assert store.succeed_step(claims[hook], "w", {"status": 200}) is not None
    assert store.advance(pid) == Advance([], "running", None)
    (move,) = steps_at(store, pid, 1)
    assert store.claim_step(move, "w", 60) is None
    # when the other is done too / then the step after them starts, seeing both results
    assert store.succeed_step(claims[mq], "w", {"message_id": "m1"}) is not None
    assert store.advance(pid) == Advance([move], "running", None)
    claimed = store.claim_step(move, "w", 60)
    assert claimed is not None
    assert claimed.results == {"hook": {"status": 200}, "mq": {"message_id": "m1"}}


def test_event_succeeds_only_when_every_pipeline_did(store: Store) -> None:
    p1, p2 = admit(store, recorded(store), plan("one", step(0, "a")), plan("two", step(0, "b")))
    run_step(store, store.advance(p1).next_steps[0])
    assert store.advance(p1) == Advance([], "succeeded", None)
    run_step(store, store.advance(p2).next_steps[0])
    assert store.advance(p2) == Advance([], "succeeded", "succeeded")


def test_event_fails_with_the_failing_pipelines_error(store: Store) -> None:
    # given two pipelines, the first failing while the second still runs
    event = recorded(store)
    event_id = event.event_id
    p1, p2 = admit(
        store, event, plan("one", step(0, "s3"), step(1, "x")), plan("two", step(0, "b"))
    )
    (s3,) = store.advance(p1).next_steps
    fail_step(store, s3, "bucket missing")
    # then the event waits for the other pipeline
    assert store.get_event(event_id).state == "processing"
    assert store.advance(p1) == Advance([], "failed", None)
    # when the other succeeds / then the event fails with the first failure as reason
    run_step(store, store.advance(p2).next_steps[0])
    assert store.advance(p2) == Advance([], "succeeded", "failed")
    row = store.get_event(event_id)
    assert row is not None
    assert (row.state, row.reason) == ("failed", "step s3: bucket missing")


def test_advance_of_unknown_pipeline_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no pipeline 424242"):
        store.advance(424242)


def test_admitting_a_batch_records_each_event_as_admitting_it_alone(store: Store) -> None:
    # given three file versions, the third a second delivery of the first
    first, second = make_event("b/1.bin"), make_event("b/2.bin")
    plans = [plan("video", step(0, "s3"))]
    verdict = Verdict(plans, "h")
    # when an ingest batch admits them in one transaction
    admitted = store.admit_many([(first, verdict, None), (second, verdict, None)])
    again = store.admit_many([(first, verdict, None)])
    # then each has its own event and pipeline, as with one admit each, and a second
    # delivery creates nothing
    assert [a.created for a in admitted] == [True, True]
    for event in (first, second):
        assert store.get_event(event.event_id).state == "processing"
        assert [p.route for p in store.pipelines_of(event.event_id)] == ["video"]
    assert [a.created for a in again] == [False]
