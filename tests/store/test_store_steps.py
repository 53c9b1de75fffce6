"""Steps: claims under a lease, completion under one's own lease, retries and failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from filerelay.errors import StoreError
from filerelay.store import Store
from filerelay.store import pipelines as store_pipelines
from filerelay.store.rows import StepRow
from tests.store.store_helpers import admit, make_event, plan, step, steps_at

T0 = datetime.now(UTC)


def first_step(store: Store, *steps: object, relpath: str = "a.bin") -> tuple[str, int, int]:
    """An event with one pipeline; returns (event id, pipeline id, first step id)."""
    event = make_event(relpath)
    chain = steps or (step(0, "a"), step(1, "b"))
    (pid,) = admit(store, event, plan("r", *chain))  # type: ignore[arg-type]
    return event.event_id, pid, steps_at(store, pid, 0)[0]


def step_row(store: Store, pid: int, step_id: int) -> StepRow:
    return next(s for s in store.steps_of(pid) if s.id == step_id)


def test_claim_gives_the_worker_everything_it_needs(store: Store) -> None:
    # given a pending first step
    event = make_event("in/clip.mp4", sha256="cd" * 32)
    (pid,) = admit(store, event, plan("video", step(0, "s3")))
    (sid,) = steps_at(store, pid, 0)
    # when a worker claims it
    claimed = store.claim_step(sid, "w1", 30, now=T0)
    # then it holds the lease and has the event, route, step and attempt
    assert claimed is not None
    assert (claimed.step_id, claimed.pipeline_id, claimed.event_id) == (sid, pid, event.event_id)
    assert (claimed.route, claimed.position, claimed.branch, claimed.name, claimed.action) == (
        "video",
        0,
        0,
        "s3",
        "copy",
    )
    assert (claimed.attempt, claimed.max_attempts, claimed.results) == (1, 3, {})
    assert claimed.idempotency_key == f"{event.dedup_key}:video:s3"
    assert claimed.event.model_dump(exclude={"detected_at"}) == event.model_dump(
        exclude={"detected_at"}
    )
    assert claimed.event.detected_at == pytest.approx(event.detected_at, abs=1e-5)
    row = step_row(store, pid, sid)
    assert (row.status, row.lease_owner, row.attempts) == ("running", "w1", 1)
    assert row.lease_expires_at == T0 + timedelta(seconds=30)
    assert row.started_at == T0


def test_second_claim_of_a_leased_step_gets_nothing(store: Store) -> None:
    _, _, sid = first_step(store)
    assert store.claim_step(sid, "w1", 30, now=T0) is not None
    # when a duplicate delivery claims it within the lease / then nothing is claimed
    assert store.claim_step(sid, "w2", 30, now=T0 + timedelta(seconds=29)) is None


def test_claim_after_lease_expiry_is_the_next_attempt(store: Store) -> None:
    # given a step whose worker died holding the lease
    _, pid, sid = first_step(store)
    dead = store.claim_step(sid, "dead", 30, now=T0)
    assert dead is not None
    # when another worker claims it after the lease ran out
    claimed = store.claim_step(sid, "w2", 30, now=T0 + timedelta(seconds=31))
    # then it runs as attempt 2 under the new owner, keeping the first start time
    assert claimed is not None and claimed.attempt == 2
    row = step_row(store, pid, sid)
    assert (row.lease_owner, row.started_at) == ("w2", T0)
    # and the dead worker, if it comes back, cannot complete it
    assert store.succeed_step(dead, "dead", {"late": True}) is None
    assert store.succeed_step(claimed, "w2", {"ok": True}) is not None
    assert step_row(store, pid, sid).result == {"ok": True}


def test_claim_is_refused_once_attempts_are_used_up(store: Store) -> None:
    _, _, sid = first_step(store, step(0, "a", max_attempts=2))
    assert store.claim_step(sid, "w", 10, now=T0) is not None
    assert store.claim_step(sid, "w", 10, now=T0 + timedelta(seconds=11)) is not None
    assert store.claim_step(sid, "w", 10, now=T0 + timedelta(seconds=22)) is None


def test_claim_is_refused_when_the_pipeline_failed(store: Store) -> None:
    # given two parallel steps, one of which failed for good
    _, pid, a = first_step(store, step(0, "a", 0), step(0, "b", 1))
    b = steps_at(store, pid, 0)[1]
    claim = store.claim_step(a, "w", 30)
    assert claim is not None
    assert store.fail_and_advance(claim, "w", "boom", None) is not None
    # then its sibling is cancelled and cannot be claimed
    assert store.claim_step(b, "w", 30) is None
    assert step_row(store, pid, b).status == "cancelled"


def test_claim_is_refused_before_its_position(store: Store) -> None:
    # a step of a later position waits until the pipeline gets there
    _, pid, _ = first_step(store)
    (later,) = steps_at(store, pid, 1)
    assert store.claim_step(later, "w", 30) is None


def test_retry_releases_the_step_until_its_next_attempt(store: Store) -> None:
    # given a claimed step whose effect failed transiently
    _, pid, sid = first_step(store)
    assert store.claim_step(sid, "w1", 30, now=T0) is not None
    retry_at = T0 + timedelta(seconds=60)
    # when it is retried
    assert store.retry_step(sid, "w1", "503 from S3", retry_at)
    row = step_row(store, pid, sid)
    assert (row.status, row.last_error, row.lease_owner) == (
        "pending",
        "503 from S3",
        None,
    )
    assert row.next_attempt_at == retry_at
    # then it cannot be claimed before its time, and can after
    assert store.claim_step(sid, "w2", 30, now=T0 + timedelta(seconds=59)) is None
    claimed = store.claim_step(sid, "w2", 30, now=retry_at)
    assert claimed is not None and claimed.attempt == 2


def test_only_the_lease_owner_can_retry_or_fail(store: Store) -> None:
    _, pid, sid = first_step(store)
    claim = store.claim_step(sid, "w1", 30)
    assert claim is not None
    assert store.retry_step(sid, "other", "x", T0) is False
    assert store.fail_and_advance(claim, "other", "x", None) is None
    assert step_row(store, pid, sid).status == "running"


def test_retry_without_attempts_left_is_refused(store: Store) -> None:
    _, _, sid = first_step(store, step(0, "a", max_attempts=1))
    assert store.claim_step(sid, "w", 30) is not None
    with pytest.raises(StoreError, match="used 1 of 1 attempts: fail it"):
        store.retry_step(sid, "w", "again", T0)


def test_retry_of_a_step_whose_pipeline_failed_cancels_it(store: Store) -> None:
    # given two running siblings; one fails the pipeline while the other is retrying
    _, pid, a = first_step(store, step(0, "a", 0), step(0, "b", 1))
    b = steps_at(store, pid, 0)[1]
    claim_a = store.claim_step(a, "w1", 30)
    assert claim_a is not None
    assert store.claim_step(b, "w2", 30) is not None
    assert store.fail_and_advance(claim_a, "w1", "boom", None) is not None
    # when the sibling asks for a retry / then it is cancelled: nothing would ever claim it
    assert store.retry_step(b, "w2", "timeout", T0)
    assert step_row(store, pid, b).status == "cancelled"


def test_a_failed_step_fails_pipeline_and_event(store: Store) -> None:
    # given a chain whose first step fails for good
    event_id, pid, sid = first_step(store)
    claim = store.claim_step(sid, "w", 30)
    assert claim is not None
    # when it fails
    assert store.fail_and_advance(claim, "w", "403 Forbidden", None) is not None
    # then the step, the pipeline and (its only pipeline) the event are failed
    row = step_row(store, pid, sid)
    assert (row.status, row.last_error, row.lease_owner) == (
        "failed",
        "403 Forbidden",
        None,
    )
    assert row.finished_at is not None and row.duration_ms is not None
    (pipe,) = store.pipelines_of(event_id)
    assert (pipe.status, pipe.error) == ("failed", "step a: 403 Forbidden")
    assert [s.status for s in store.steps_of(pid)] == ["failed", "cancelled"]
    event = store.get_event(event_id)
    assert event is not None
    assert (event.state, event.reason) == ("failed", "step a: 403 Forbidden")
    # and failing it again changes nothing
    assert store.fail_and_advance(claim, "w", "again", None) is None


def test_complete_records_result_and_duration(store: Store) -> None:
    _, pid, sid = first_step(store)
    claim = store.claim_step(sid, "w", 30)
    assert claim is not None
    assert store.succeed_step(claim, "w", {"key": "raw/a.bin", "etag": "e1"}) is not None
    row = step_row(store, pid, sid)
    assert row.status == "succeeded" and row.result == {"key": "raw/a.bin", "etag": "e1"}
    assert row.lease_owner is None and row.lease_expires_at is None
    assert isinstance(row.duration_ms, int) and row.duration_ms >= 0
    # a duplicate completion changes nothing, and a completed step cannot be claimed
    assert store.succeed_step(claim, "w", {"other": 1}) is None
    assert store.claim_step(sid, "w", 30) is None


def test_naive_now_is_refused(store: Store) -> None:
    _, _, sid = first_step(store)
    with pytest.raises(ValueError, match="naive datetime"):
        store.claim_step(sid, "w", 30, now=datetime(2024, 1, 1))


def test_step_row_carries_its_route_and_event(store: Store) -> None:
    event_id, pid, sid = first_step(store)
    row = store.step_row(sid)
    assert row is not None
    assert (row.id, row.pipeline_id, row.route, row.event_id) == (
        sid,
        pid,
        "r",
        event_id,
    )
    assert (row.position, row.name, row.status) == (0, "a", "pending")
    assert store.step_row(999_999) is None


def test_a_batch_of_successes_is_recorded_as_each_alone_in_one_transaction(
    store: Store,
) -> None:
    # given three claimed steps: a one-step pipeline, the first of two, and one whose lease
    # another worker took meanwhile
    event_id, pid_one, sid_one = first_step(store, step(0, "only"), relpath="one.bin")
    _, pid_two, sid_two = first_step(store, relpath="two.bin")
    _, pid_lost, sid_lost = first_step(store, step(0, "only"), relpath="lost.bin")
    one = store.claim_step(sid_one, "w", 30, now=T0)
    two = store.claim_step(sid_two, "w", 30, now=T0)
    lost = store.claim_step(sid_lost, "w", 30, now=T0)
    assert one is not None and two is not None and lost is not None
    assert store.claim_step(sid_lost, "thief", 30, now=T0 + timedelta(seconds=31)) is not None
    # when their successes are recorded together
    answers = store.succeed_steps(
        [(two, "w", {"n": 2}), (lost, "w", {"n": 0}), (one, "w", {"n": 1})]
    )
    # then each is answered as succeed_step answers it, in the order given: the two-step
    # pipeline moves on, the one-step one ends with its event, the lost lease changes nothing
    adv_two, adv_lost, adv_one = answers
    assert adv_two is not None and adv_two.next_steps == steps_at(store, pid_two, 1)
    assert adv_lost is None
    assert adv_one is not None and adv_one.event_state == "succeeded"
    assert adv_one.event_finished_now
    assert store.get_event(event_id).state == "succeeded"
    assert step_row(store, pid_one, sid_one).result == {"n": 1}
    assert step_row(store, pid_lost, sid_lost).lease_owner == "thief"
    assert step_row(store, pid_lost, sid_lost).status == "running"


def _batch_shapes(store: Store, tag: str) -> tuple[list[tuple[object, str]], list[str]]:
    """Every case a batch's successes can meet, made for ``tag``: the claims to record
    (with their owner) and the events whose rows the comparison reads."""
    cases: list[tuple[object, str]] = []
    events: list[str] = []

    def claimed(pid: int, position: int = 0, branch: int = 0, owner: str = "w") -> object:
        sid = steps_at(store, pid, position)[branch]
        claim = store.claim_step(sid, owner, 30, now=T0)
        assert claim is not None
        return claim

    def admitted(name: str, *plans: object) -> list[int]:
        event = make_event(f"{tag}/{name}.bin")
        events.append(event.event_id)
        return admit(store, event, *plans)  # type: ignore[arg-type]

    # one step: the pipeline and its event end
    [pid] = admitted("one", plan("r", step(0, "only")))
    cases.append((claimed(pid), "w"))
    # the first of two positions: the pipeline moves on
    [pid] = admitted("two", plan("r", step(0, "a"), step(1, "b")))
    cases.append((claimed(pid), "w"))
    # one branch of two in parallel: the other is still pending at that position
    [pid] = admitted("par", plan("r", step(0, "a"), step(0, "b", branch=1), step(1, "c")))
    cases.append((claimed(pid), "w"))
    # two routes, one of them in the batch: that pipeline ends, the event goes on
    p1, _ = admitted("half", plan("r1", step(0, "a")), plan("r2", step(0, "a")))
    cases.append((claimed(p1), "w"))
    # two routes, both in the batch (one event twice: the batch's last two, recorded as a
    # batch of their own): the second ends the event
    p1, p2 = admitted("both", plan("r1", step(0, "a")), plan("r2", step(0, "a")))
    both = [(claimed(p1), "w"), (claimed(p2), "w")]
    # a lease another worker took meanwhile
    [pid] = admitted("lost", plan("r", step(0, "only")))
    lost = claimed(pid)
    assert store.claim_step(lost.step_id, "thief", 30, now=T0 + timedelta(seconds=31))  # type: ignore[attr-defined]
    cases.append((lost, "w"))
    # a branch whose sibling failed for good meanwhile: its pipeline is compensating
    [pid] = admitted("comp", plan("r", step(0, "a"), step(0, "b", branch=1)))
    running, failing = claimed(pid), claimed(pid, branch=1)
    undo = step(9, "undo-a")
    assert store.fail_and_advance(failing, "w", "boom", [undo]) is not None  # type: ignore[arg-type]
    cases.append((running, "w"))
    return [*cases, *both], events


def _outcome(store: Store, event_ids: list[str]) -> list[object]:
    """What the store holds for these events, ids left out."""
    seen: list[object] = []
    for event_id in event_ids:
        event = store.get_event(event_id)
        assert event is not None
        seen.append((event.state, event.reason))
        for row in store.pipelines_of(event_id):
            seen.append((row.route, row.status, row.current_position))
            seen += [
                (s.position, s.branch, s.name, s.status, s.result, s.lease_owner, s.phase)
                for s in store.steps_of(row.id)
            ]
    return seen


def test_a_batch_of_successes_ends_as_each_recorded_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the same cases twice
    together, events_together = _batch_shapes(store, "together")
    alone, events_alone = _batch_shapes(store, "alone")
    one_by_one: list[int] = []
    advance = store_pipelines.advance

    def counted(conn: Any, pipeline_id: int, now: datetime) -> Any:
        one_by_one.append(pipeline_id)
        return advance(conn, pipeline_id, now)

    monkeypatch.setattr("filerelay.store.pipelines.advance", counted)
    # when one set is recorded in two transactions (the one event twice apart) and the other
    # one success at a time
    answers = store.succeed_steps([(c, o, {"ok": 1}) for c, o in together[:-2]])  # type: ignore[misc]
    # (set-wise: only the compensating pipeline went the general way)
    assert len(one_by_one) == 1
    answers += store.succeed_steps([(c, o, {"ok": 1}) for c, o in together[-2:]])  # type: ignore[misc]
    assert len(one_by_one) == 3
    singles = [store.succeed_step(c, o, {"ok": 1}) for c, o in alone]  # type: ignore[arg-type]

    # then the answers and the rows are the same, case by case
    def shape(adv: object) -> object:
        if adv is None:
            return None
        return (
            len(adv.next_steps), adv.pipeline_status, adv.event_state, adv.event_finished_now,  # type: ignore[attr-defined]
            [(r.route, r.position, r.branch, r.phase) for r in adv.refs],  # type: ignore[attr-defined]
        )  # fmt: skip

    assert [shape(a) for a in answers] == [shape(a) for a in singles]
    assert _outcome(store, events_together) == _outcome(store, events_alone)
    assert shape(answers[0])[2:4] == ("succeeded", True)  # type: ignore[index]
