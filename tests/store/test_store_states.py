"""The state machines as data: legal and illegal transitions, predecessors for SQL."""

from __future__ import annotations

import pytest

from filerelay.errors import StoreError
from filerelay.store.states import EVENT, PIPELINE, STEP

LEGAL_EVENT = [
    ("detected", "queued"),
    ("queued", "processing"),
    ("queued", "duplicate"),
    ("queued", "vanished"),
    ("queued", "skipped"),
    ("queued", "failed"),
    ("processing", "succeeded"),
    ("processing", "failed"),
    ("processing", "vanished"),
    ("processing", "skipped"),
    ("failed", "queued"),
]

ILLEGAL_EVENT = [
    ("succeeded", "queued"),
    ("succeeded", "failed"),
    ("duplicate", "queued"),
    ("processing", "queued"),
    ("processing", "duplicate"),
    ("queued", "succeeded"),
    ("vanished", "processing"),
    ("skipped", "queued"),
    ("detected", "processing"),
]


@pytest.mark.parametrize(("from_state", "to_state"), LEGAL_EVENT)
def test_legal_event_transitions_pass(from_state: str, to_state: str) -> None:
    # given a legal pair / when checked / then no error and it is listed as a predecessor
    EVENT.check(from_state, to_state)
    assert from_state in EVENT.predecessors(to_state)


@pytest.mark.parametrize(("from_state", "to_state"), ILLEGAL_EVENT)
def test_illegal_event_transitions_name_both_states(from_state: str, to_state: str) -> None:
    with pytest.raises(StoreError, match=f"illegal event transition {from_state} -> {to_state}"):
        EVENT.check(from_state, to_state)
    assert from_state not in EVENT.predecessors(to_state)


def test_event_machine_shape() -> None:
    # then: rows start queued or duplicate; outcomes other than failed are final
    assert EVENT.initial == {"queued", "duplicate"}
    assert EVENT.terminal == {"succeeded", "duplicate", "vanished", "skipped"}
    assert EVENT.predecessors("queued") == {"detected", "failed"}
    assert EVENT.predecessors("processing") == {"queued"}


def test_unknown_state_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown event state 'done'"):
        EVENT.predecessors("done")


def test_predecessors_are_plain_strings() -> None:
    # they are bound as SQL parameters, so no enum members may leak out
    assert all(type(s) is str for s in EVENT.predecessors("failed"))


@pytest.mark.parametrize(
    ("from_state", "to_state", "legal"),
    [
        ("running", "succeeded", True),
        ("running", "failed", True),
        ("succeeded", "running", False),
        ("failed", "running", False),
    ],
)
def test_pipeline_transitions(from_state: str, to_state: str, legal: bool) -> None:
    assert PIPELINE.allowed(from_state, to_state) is legal


@pytest.mark.parametrize(
    ("from_state", "to_state", "legal"),
    [
        ("pending", "running", True),
        ("pending", "cancelled", True),
        ("running", "running", True),  # re-claimed after the lease expired
        ("running", "pending", True),  # retry later
        ("running", "succeeded", True),
        ("running", "failed", True),
        ("pending", "succeeded", False),
        ("succeeded", "running", False),
        ("cancelled", "pending", False),
        ("failed", "pending", False),
    ],
)
def test_step_transitions(from_state: str, to_state: str, legal: bool) -> None:
    assert STEP.allowed(from_state, to_state) is legal
    assert STEP.terminal == {"succeeded", "failed", "cancelled"}
