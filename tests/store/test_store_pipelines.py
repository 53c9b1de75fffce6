"""Pipelines: creation (idempotent, reprocess), advancing across positions and branches, and
the event's final state."""

from __future__ import annotations

import pytest

from filerelay.errors import StoreError
from filerelay.store import Advance, RoutePlan, Store
from tests.store.store_helpers import make_event, plan, step


def recorded(store: Store, relpath: str = "a.bin") -> str:
    event = make_event(relpath)
    store.record_event(event)
    return event.event_id


def run_step(store: Store, step_id: int, result: dict[str, object] | None = None) -> None:
    """Claim and complete a step the way a worker does."""
    assert store.claim_step(step_id, "w", 60) is not None
    assert store.complete_step(step_id, "w", result or {"ok": True})


def test_create_pipelines_records_steps_and_starts_processing(store: Store) -> None:
    # given a queued event and two matched routes
    event_id = recorded(store)
    plans = [
        plan("video", step(0, "s3"), step(1, "hook", 0), step(1, "mq", 1)),
        plan("audit", step(0, "log", max_attempts=5)),
    ]
    # when the pipelines are created
    ids = store.create_pipelines(event_id, plans, "cfg1")
    # then one running pipeline per route, with its steps pending, and the event processing
    pipes = store.pipelines_of(event_id)
    assert [p["id"] for p in pipes] == ids
    assert [
        (p["route"], p["run"], p["status"], p["current_position"], p["config_hash"]) for p in pipes
    ] == [("video", 1, "running", 0, "cfg1"), ("audit", 1, "running", 0, "cfg1")]
    steps = store.steps_of(ids[0])
    assert [(s["position"], s["branch"], s["name"], s["status"], s["attempts"]) for s in steps] == [
        (0, 0, "s3", "pending", 0),
        (1, 0, "hook", "pending", 0),
        (1, 1, "mq", "pending", 0),
    ]
    dedup_key = store.get_event(event_id)["dedup_key"]  # type: ignore[index]
    assert steps[0]["idempotency_key"] == f"{dedup_key}:video:s3"
    assert store.steps_of(ids[1])[0]["max_attempts"] == 5
    assert store.get_event(event_id)["state"] == "processing"  # type: ignore[index]
    assert store.steps_at(ids[0], 1) == [steps[1]["id"], steps[2]["id"]]


def test_create_pipelines_is_idempotent(store: Store) -> None:
    # given pipelines created for an event
    event_id = recorded(store)
    plans = [plan("video", step(0, "s3")), plan("audit", step(0, "log"))]
    ids = store.create_pipelines(event_id, plans, "h")
    # when the ingest is redelivered and creates them again
    again = store.create_pipelines(event_id, plans, "h")
    # then the same pipelines come back and nothing was inserted
    assert again == ids
    assert len(store.pipelines_of(event_id)) == 2


def test_reprocessed_event_gets_a_new_run(store: Store) -> None:
    # given an event whose run failed and was queued again
    event_id = recorded(store)
    (first,) = store.create_pipelines(event_id, [plan("r", step(0, "a"))], "h")
    (sid,) = store.advance(first).next_steps
    assert store.claim_step(sid, "w", 60)
    assert store.fail_step(sid, "w", "boom")
    assert store.set_event_state(event_id, "queued")
    # when the pipelines are created again
    (second,) = store.create_pipelines(event_id, [plan("r", step(0, "a"))], "h2")
    # then run 2 runs from the start while run 1 stays as it was
    assert second != first
    assert [(p["run"], p["status"]) for p in store.pipelines_of(event_id)] == [
        (1, "failed"),
        (2, "running"),
    ]
    assert store.create_pipelines(event_id, [plan("r", step(0, "a"))], "h2") == [second]


@pytest.mark.parametrize(
    ("plans", "error", "match"),
    [
        ([], ValueError, "no route plans"),
        ([RoutePlan("r", [])], ValueError, "has no steps"),
        ([plan("r", step(0, "a"), step(1, "a"))], ValueError, "duplicate step names"),
    ],
)
def test_unrunnable_plans_are_refused(
    store: Store, plans: list[RoutePlan], error: type[Exception], match: str
) -> None:
    event_id = recorded(store)
    with pytest.raises(error, match=match):
        store.create_pipelines(event_id, plans, "h")
    assert store.get_event(event_id)["state"] == "queued"  # type: ignore[index]


def test_pipelines_for_a_finished_or_unknown_event_are_refused(store: Store) -> None:
    event_id = recorded(store)
    store.set_event_state(event_id, "skipped")
    with pytest.raises(StoreError, match="illegal event transition skipped -> processing"):
        store.create_pipelines(event_id, [plan("r", step(0, "a"))], "h")
    with pytest.raises(StoreError, match="no event nope"):
        store.create_pipelines("nope", [plan("r", step(0, "a"))], "h")


def test_advance_walks_the_positions_then_finishes(store: Store) -> None:
    # given a three-step chain (positions need not be contiguous)
    event_id = recorded(store)
    (pid,) = store.create_pipelines(
        event_id, [plan("r", step(0, "a"), step(1, "b"), step(5, "c"))], "h"
    )
    a, b, c = (s["id"] for s in store.steps_of(pid))
    # when advanced before anything ran / then it hands out the first step
    assert store.advance(pid) == Advance([a], "running", None)
    assert store.advance(pid) == Advance([a], "running", None)  # twice is fine
    # and once a step succeeded, the next one; claimed steps are not handed out again
    run_step(store, a, {"key": "k1"})
    assert store.advance(pid) == Advance([b], "running", None)
    assert store.claim_step(b, "w", 60) is not None
    assert store.advance(pid) == Advance([], "running", None)
    assert store.complete_step(b, "w", {})
    assert store.advance(pid) == Advance([c], "running", None)
    run_step(store, c)
    # then the last one finishes the pipeline and the event
    assert store.advance(pid) == Advance([], "succeeded", "succeeded")
    assert store.advance(pid) == Advance([], "succeeded", "succeeded")
    (pipe,) = store.pipelines_of(event_id)
    assert pipe["finished_at"] is not None and pipe["current_position"] == 5
    assert store.get_event(event_id)["state"] == "succeeded"  # type: ignore[index]


def test_parallel_siblings_both_finish_before_the_next_position(store: Store) -> None:
    # given two branches at position 0 and a step after them, both branches claimed
    event_id = recorded(store)
    (pid,) = store.create_pipelines(
        event_id, [plan("r", step(0, "hook", 0), step(0, "mq", 1), step(1, "move"))], "h"
    )
    hook, mq = store.advance(pid).next_steps
    for sid in (hook, mq):
        assert store.claim_step(sid, "w", 60) is not None
    # when one branch is done / then the next position waits
    assert store.complete_step(hook, "w", {"status": 200})
    assert store.advance(pid) == Advance([], "running", None)
    (move,) = store.steps_at(pid, 1)
    assert store.claim_step(move, "w", 60) is None
    # when the other is done too / then the step after them starts, seeing both results
    assert store.complete_step(mq, "w", {"message_id": "m1"})
    assert store.advance(pid) == Advance([move], "running", None)
    claimed = store.claim_step(move, "w", 60)
    assert claimed is not None
    assert claimed.results == {"hook": {"status": 200}, "mq": {"message_id": "m1"}}


def test_event_succeeds_only_when_every_pipeline_did(store: Store) -> None:
    event_id = recorded(store)
    p1, p2 = store.create_pipelines(
        event_id, [plan("one", step(0, "a")), plan("two", step(0, "b"))], "h"
    )
    run_step(store, store.advance(p1).next_steps[0])
    assert store.advance(p1) == Advance([], "succeeded", None)
    run_step(store, store.advance(p2).next_steps[0])
    assert store.advance(p2) == Advance([], "succeeded", "succeeded")


def test_event_fails_with_the_failing_pipelines_error(store: Store) -> None:
    # given two pipelines, the first failing while the second still runs
    event_id = recorded(store)
    p1, p2 = store.create_pipelines(
        event_id, [plan("one", step(0, "s3"), step(1, "x")), plan("two", step(0, "b"))], "h"
    )
    (s3,) = store.advance(p1).next_steps
    assert store.claim_step(s3, "w", 60)
    assert store.fail_step(s3, "w", "bucket missing")
    # then the event waits for the other pipeline
    assert store.get_event(event_id)["state"] == "processing"  # type: ignore[index]
    assert store.advance(p1) == Advance([], "failed", None)
    # when the other succeeds / then the event fails with the first failure as reason
    run_step(store, store.advance(p2).next_steps[0])
    assert store.advance(p2) == Advance([], "succeeded", "failed")
    event = store.get_event(event_id)
    assert event is not None
    assert (event["state"], event["reason"]) == ("failed", "step s3: bucket missing")


def test_advance_of_unknown_pipeline_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no pipeline 424242"):
        store.advance(424242)
