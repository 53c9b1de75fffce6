"""``Store.admit``: the ingest's one transaction gives the answers recording, creating the
pipelines and claiming would give one by one."""

from __future__ import annotations

from filerelay.model import EventState
from filerelay.store import InlineClaim, Store, Verdict
from tests.store.store_helpers import make_event, plan, step


def routed(*plans_):
    return Verdict(plans=list(plans_), config_hash="cfg1")


def test_a_new_routed_event_is_processing_with_its_first_steps(store: Store) -> None:
    event = make_event("a.bin")
    verdict = routed(plan("video", step(0, "s3"), step(1, "hook")), plan("audit", step(0, "log")))
    admitted = store.admit(event, verdict)
    assert admitted.created and admitted.recorded.is_new and admitted.claimed is None
    assert store.get_event(event.event_id).state == EventState.PROCESSING
    pipes = store.pipelines_of(event.event_id)
    assert [(p.route, p.run, p.config_hash) for p in pipes] == [
        ("video", 1, "cfg1"),
        ("audit", 1, "cfg1"),
    ]
    firsts = [(r.route, r.position, r.branch, r.phase) for r in admitted.first_steps]
    assert firsts == [("video", 0, 0, "main"), ("audit", 0, 0, "main")]
    # the same steps advance would hand out
    assert [r.step_id for r in admitted.first_steps] == [
        *store.advance(pipes[0].id).next_steps,
        *store.advance(pipes[1].id).next_steps,
    ]


def test_an_inline_claim_takes_the_lease_of_that_step_only(store: Store) -> None:
    event = make_event("a.bin")
    verdict = routed(plan("video", step(0, "s3"), step(1, "hook")), plan("audit", step(0, "log")))
    admitted = store.admit(event, verdict, InlineClaim("video", 0, 0, "w1", 60))
    claim = admitted.claimed
    assert claim is not None
    assert (claim.route, claim.name, claim.attempt, claim.config_hash) == ("video", "s3", 1, "cfg1")
    assert claim.idempotency_key == f"{event.dedup_key}:video:s3"
    assert [r.route for r in admitted.first_steps] == ["audit"]  # the other one is to send
    # a second claim finds it taken; completing under the lease advances the pipeline
    assert store.claim_step(claim.step_id, "w2", 60) is None
    adv = store.succeed_step(claim, "w1", {"key": "k"})
    assert adv is not None and [(r.route, r.position) for r in adv.refs] == [("video", 1)]
    assert store.step_row(claim.step_id).result == {"key": "k"}
    assert store.succeed_step(claim, "w1", {}) is None  # the lease is gone


def test_a_step_waiting_for_a_window_is_not_claimed_inline(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(hours=1)
    waiting = plan("night", step(0, "s3"))
    waiting.steps[0] = type(waiting.steps[0])(**{**waiting.steps[0].__dict__, "not_before": later})
    admitted = store.admit(make_event(), routed(waiting), InlineClaim("night", 0, 0, "w", 60))
    assert admitted.claimed is None
    assert admitted.first_steps[0].next_attempt_at is not None


def test_a_second_version_with_the_same_key_is_a_duplicate(store: Store) -> None:
    first = make_event("a.bin", inode=7)
    again = make_event("a.bin", inode=7)  # same file version, new event id
    store.admit(first, routed(plan("r", step(0, "s3"))))
    admitted = store.admit(again, routed(plan("r", step(0, "s3"))), InlineClaim("r", 0, 0, "w", 9))
    assert not admitted.created and not admitted.recorded.is_new
    assert admitted.recorded.duplicate_of == first.event_id
    assert store.get_event(again.event_id).state == EventState.DUPLICATE
    assert store.pipelines_of(again.event_id) == []


def test_a_redelivered_ingest_changes_nothing(store: Store) -> None:
    event = make_event("a.bin")
    store.admit(event, routed(plan("r", step(0, "s3"))), InlineClaim("r", 0, 0, "w", 60))
    admitted = store.admit(event, routed(plan("r", step(0, "s3"))), InlineClaim("r", 0, 0, "x", 60))
    assert not admitted.created and admitted.claimed is None
    assert admitted.recorded.state == EventState.PROCESSING
    assert len(store.pipelines_of(event.event_id)) == 1


def test_a_settled_verdict_records_its_state_and_reason(store: Store) -> None:
    event = make_event("gone.bin")
    admitted = store.admit(event, Verdict(state="vanished", reason="vanished"))
    assert admitted.recorded.is_new and not admitted.created
    row = store.get_event(event.event_id)
    assert (row.state, row.reason) == ("vanished", "vanished")


def test_a_reprocessed_event_gets_a_new_run(store: Store) -> None:
    event = make_event("a.bin")
    first = store.admit(event, routed(plan("r", step(0, "s3"))), InlineClaim("r", 0, 0, "w", 60))
    assert first.claimed is not None
    assert store.fail_and_advance(first.claimed, "w", "boom", None) is not None
    assert store.get_event(event.event_id).state == EventState.FAILED
    assert store.set_event_state(event.event_id, EventState.QUEUED)
    admitted = store.admit(event, routed(plan("r", step(0, "s3"))))
    assert admitted.created and len(admitted.first_steps) == 1
    assert [p.run for p in store.pipelines_of(event.event_id)] == [1, 2]


def test_only_the_last_pipeline_to_finish_ends_the_event(store: Store) -> None:
    event = make_event("a.bin")
    verdict = routed(plan("video", step(0, "s3")), plan("audit", step(0, "log")))
    admitted = store.admit(event, verdict, InlineClaim("video", 0, 0, "w1", 60))
    assert admitted.claimed is not None
    other = store.claim_step(admitted.first_steps[0].step_id, "w2", 60)
    assert other is not None
    first = store.succeed_step(admitted.claimed, "w1", {})
    assert first is not None and first.event_state is None and not first.event_finished_now
    last = store.fail_and_advance(other, "w2", "boom", None)
    assert last is not None and last.event_state == "failed" and last.event_finished_now
    # advancing a finished pipeline again reports the state, not a new ending
    again = store.advance(admitted.claimed.pipeline_id)
    assert again.event_state == "failed" and not again.event_finished_now
