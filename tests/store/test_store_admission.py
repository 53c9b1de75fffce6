"""``Store.admit``: the ingest's one transaction gives the answers recording, creating the
pipelines and claiming would give one by one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

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


def _batch(tag: str, later: object) -> list[tuple[object, Verdict, InlineClaim | None]]:
    """Every shape an ingest batch's events take, for ``tag``."""
    waiting = plan("night", step(0, "s3"))
    waiting.steps[0] = type(waiting.steps[0])(**{**waiting.steps[0].__dict__, "not_before": later})

    def claim(route: str, branch: int = 0) -> InlineClaim:
        return InlineClaim(route, 0, branch, "w1", 60, agent="host-1")

    return [
        (make_event(f"{tag}/one.bin"), routed(plan("r", step(0, "s3"))), claim("r")),
        (make_event(f"{tag}/two.bin"), routed(plan("r", step(0, "a"), step(1, "b"))), claim("r")),
        (
            make_event(f"{tag}/par.bin"),
            routed(plan("r", step(0, "a"), step(0, "b", branch=1), step(1, "c"))),
            claim("r", branch=1),
        ),
        (
            make_event(f"{tag}/routes.bin"),
            routed(plan("video", step(0, "s3"), step(1, "hook")), plan("audit", step(0, "log"))),
            claim("audit"),
        ),
        (make_event(f"{tag}/window.bin"), routed(waiting), claim("night")),
        (make_event(f"{tag}/sent.bin"), routed(plan("r", step(0, "a"))), None),
        (make_event(f"{tag}/other-route.bin"), routed(plan("r", step(0, "a"))), claim("x")),
        (make_event(f"{tag}/skip.bin"), Verdict(state="skipped", reason="no route"), None),
    ]


def _answers_and_rows(store: Store, admitted: Sequence[Any], items: Sequence[Any]) -> list[object]:
    """Each admission's answer and the rows it left, ids and times left out."""
    out: list[object] = []
    for answer, (event, _, _) in zip(admitted, items, strict=True):
        claimed = answer.claimed
        out.append(
            (
                answer.recorded.state, answer.recorded.is_new, answer.created,
                [(r.route, r.position, r.branch, r.phase, r.next_attempt_at is not None)
                 for r in answer.first_steps],
                None if claimed is None else (
                    claimed.route, claimed.name, claimed.position, claimed.branch, claimed.attempt,
                    claimed.idempotency_key.removeprefix(event.dedup_key), claimed.config_hash,
                ),
            )
        )  # fmt: skip
        row = store.get_event(event.event_id)
        out.append((row.state, row.reason))
        for p in store.pipelines_of(event.event_id):
            out.append((p.route, p.run, p.status, p.current_position, p.config_hash))
            for s in store.steps_of(p.id):
                lease = s.lease_expires_at - s.started_at if s.lease_expires_at else None
                key = s.idempotency_key.removeprefix(event.dedup_key)
                out.append(
                    (s.position, s.branch, s.name, s.status, s.attempts, s.lease_owner, lease,
                     s.agent, key, s.next_attempt_at is not None)
                )  # fmt: skip
    return out


def test_a_batch_of_new_events_is_admitted_as_each_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the same shapes twice
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(hours=1)
    together, alone = _batch("together", later), _batch("alone", later)
    # when one set is admitted as a batch (set-wise: never event by event) and the other one
    # event at a time
    with monkeypatch.context() as patched:
        patched.setattr("filerelay.store.admission.admit", None)
        batch = store.admit_many(together)  # type: ignore[arg-type]
    singles = [store.admit(e, v, c) for e, v, c in alone]  # type: ignore[arg-type]
    # then the answers and the rows are the same
    assert _answers_and_rows(store, batch, together) == _answers_and_rows(store, singles, alone)
    assert [a.claimed is not None for a in batch] == [True] * 4 + [False] * 4
    # and a claimed step is held: a second claim finds it taken, its success advances it
    claim = batch[1].claimed
    assert claim is not None and store.claim_step(claim.step_id, "w2", 60) is None
    adv = store.succeed_step(claim, "w1", {})
    assert adv is not None and [(r.route, r.position) for r in adv.refs] == [("r", 1)]


def test_a_batch_with_a_known_event_is_admitted_event_by_event(store: Store) -> None:
    # given a batch whose first event was recorded before (a redelivery) and whose last two
    # share a dedup key (two versions of one content)
    first, second = make_event("k/a.bin"), make_event("k/b.bin")
    store.admit(first, routed(plan("r", step(0, "a"))))
    twin = make_event("k/c.bin", dedup_key=second.dedup_key)
    items = [
        (first, routed(plan("r", step(0, "a"))), None),
        (second, routed(plan("r", step(0, "a"))), None),
        (twin, routed(plan("r", step(0, "a"))), None),
    ]
    # when admitted together
    answers = store.admit_many(items)
    # then as one by one: recorded before, new, and a duplicate of the one before it
    assert [(a.recorded.state, a.recorded.is_new, a.created) for a in answers] == [
        ("processing", False, False),
        ("processing", True, True),
        ("duplicate", False, False),
    ]
    assert answers[2].recorded.duplicate_of == second.event_id


def test_a_batch_none_of_whose_events_is_routed_records_each(store: Store) -> None:
    # given a batch of new events no route takes (skipped when recorded)
    items = [
        (make_event(f"s/{i}.tmp"), Verdict(state="skipped", reason="no route"), None)
        for i in range(3)
    ]
    # when admitted together
    answers = store.admit_many(items)
    # then each is recorded skipped, with nothing to run
    assert [(a.recorded.state, a.recorded.is_new, a.first_steps) for a in answers] == [
        ("skipped", True, [])
    ] * 3
    assert [store.get_event(e.event_id).state for e, _, _ in items] == ["skipped"] * 3
