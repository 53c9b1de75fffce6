"""Recording events through ``admit``: new, duplicate, redelivered; state changes; reads."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, exc, insert

from filerelay.errors import StoreError
from filerelay.store import Store, make_engine
from filerelay.store.schema import file_events
from tests.store.store_helpers import (
    admit,
    count_by_state,
    events_by_relpath,
    listed,
    make_event,
    plan,
    record,
    step,
)


def test_new_event_is_queued(store: Store) -> None:
    # given a file version never seen
    event = make_event("a.bin", sha256="ab" * 32)
    # when recorded
    recorded = record(store, event)
    # then it is a queued primary row carrying the event
    assert (recorded.state, recorded.is_new, recorded.duplicate_of) == ("queued", True, None)
    row = store.get_event(event.event_id)
    assert row is not None
    assert row.state == "queued" and row.dedup_key == event.dedup_key
    assert row.tags == {"team": "vision"} and row.sha256 == "ab" * 32
    assert row.created_at.tzinfo is not None
    assert abs(row.detected_at.timestamp() - event.detected_at) < 1e-5


def test_same_file_version_again_is_a_duplicate_of_the_first(store: Store) -> None:
    # given a recorded file version
    first = make_event("a.bin", inode=7)
    record(store, first)
    # when another event of the same version arrives (e.g. a second watcher)
    again = make_event("a.bin", inode=7)
    recorded = record(store, again)
    # then it is recorded as a duplicate pointing at the primary and runs nothing
    assert (recorded.state, recorded.is_new, recorded.duplicate_of) == (
        "duplicate",
        False,
        first.event_id,
    )
    assert store.get_event(again.event_id).duplicate_of == first.event_id
    assert count_by_state(store) == {"queued": 1, "duplicate": 1}


def test_redelivered_event_returns_the_existing_row(store: Store) -> None:
    # given a recorded event
    event = make_event("a.bin")
    record(store, event)
    # when the same ingest message is delivered again while it is queued
    again = record(store, event)
    # then the ingest may go on, and there is still one row
    assert (again.state, again.is_new) == ("queued", True)
    assert len(listed(store)) == 1
    # and once its pipelines exist, a redelivery stops there
    admit(store, event, plan("r", step(0, "a")))
    late = record(store, event)
    assert (late.state, late.is_new) == ("processing", False)


def test_redelivered_duplicate_stays_a_duplicate(store: Store) -> None:
    first, dup = make_event("a.bin", inode=9), make_event("a.bin", inode=9)
    record(store, first)
    record(store, dup)
    again = record(store, dup)
    assert (again.state, again.is_new, again.duplicate_of) == ("duplicate", False, first.event_id)


def test_unique_index_allows_one_primary_per_dedup_key(store: Store, engine: Engine) -> None:
    # given a primary row
    event = make_event("a.bin", inode=3)
    record(store, event)
    recorded = store.get_event(event.event_id)
    assert recorded is not None
    row = recorded.to_json()
    # when a second non-duplicate row with the same key is inserted behind the store's back
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert(file_events).values(row | {"id": "x" * 32, "state": "queued"}))
    # then it is refused, while duplicates of it are fine
    with engine.begin() as conn:
        conn.execute(insert(file_events).values(row | {"id": "y" * 32, "state": "duplicate"}))


def test_overlong_dedup_key_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="at most 1024"):
        record(store, make_event("a.bin", dedup_key="k" * 1025))


def test_set_event_state_follows_the_state_machine(store: Store) -> None:
    # given a queued event
    event = make_event("a.bin")
    record(store, event)
    # when it is skipped / then the state and reason are stored
    assert store.set_event_state(event.event_id, "skipped", reason="no route matched")
    row = store.get_event(event.event_id)
    assert row is not None and (row.state, row.reason) == ("skipped", "no route matched")
    # and repeating it is a no-op, while an illegal move names both states
    assert store.set_event_state(event.event_id, "skipped") is False
    with pytest.raises(StoreError, match="illegal event transition skipped -> queued"):
        store.set_event_state(event.event_id, "queued")


def test_failed_event_can_be_queued_again(store: Store) -> None:
    event = make_event("a.bin")
    record(store, event)
    assert store.set_event_state(event.event_id, "failed", reason="boom")
    assert store.set_event_state(event.event_id, "queued")
    row = store.get_event(event.event_id)
    assert row is not None and (row.state, row.reason) == ("queued", None)


def test_set_state_of_unknown_event_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no event nope"):
        store.set_event_state("nope", "skipped")


def test_read_helpers(store: Store) -> None:
    # given two versions of one file and another file
    v1, v2 = make_event("a.bin", size=1), make_event("a.bin", size=2)
    other = make_event("b.bin")
    for event in (v1, v2, other):
        record(store, event)
    store.set_event_state(other.event_id, "skipped")
    # then
    by_relpath = events_by_relpath(store, "cam", "a.bin")
    assert [e.id for e in by_relpath] == [v1.event_id, v2.event_id]
    assert events_by_relpath(store, "other", "a.bin") == []
    assert [e.id for e in listed(store)] == [other.event_id, v2.event_id, v1.event_id]
    assert [e.id for e in listed(store, state="skipped")] == [other.event_id]
    assert len(listed(store, limit=2)) == 2
    assert count_by_state(store) == {"queued": 2, "skipped": 1}
    assert store.get_event("missing") is None


def test_unreachable_database_is_a_store_error() -> None:
    # given a store whose database does not answer
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    # when it is used / then the driver error leaves as a StoreError naming the operation
    with pytest.raises(StoreError, match="store get_event failed"):
        Store(engine).get_event("x")
    engine.dispose()
