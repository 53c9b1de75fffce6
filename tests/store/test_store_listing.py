"""Listing events for operators: filters, keyset pages newest first, search, timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from filerelay.store import Store
from filerelay.store.listing import Cursor, EventFilter
from filerelay.store.schema import file_events
from tests.store.store_helpers import admit, fail_step, make_event, plan, record, step, steps_at

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record_at(store: Store, relpath: str, minutes: int, **fields: Any) -> str:
    """Record an event and set its created_at to T0 + minutes."""
    event = make_event(relpath, **fields)
    record(store, event)
    with store.engine.begin() as conn:
        conn.execute(
            update(file_events)
            .where(file_events.c.id == event.event_id)
            .values(created_at=T0 + timedelta(minutes=minutes))
        )
    return event.event_id


def fail(store: Store, event_id: str, route: str, error: str) -> None:
    """Run the event's route to a failed first step."""
    event = store.load_event(event_id)
    assert event is not None
    (pid,) = admit(store, event, plan(route, step(0, "up")), config_hash="sha-1")
    (sid,) = steps_at(store, pid, 0)
    fail_step(store, sid, error)


def test_pages_are_newest_first_and_cover_every_row_once(store: Store) -> None:
    # given 7 events, two of them created at the same instant
    ids = [record_at(store, f"f{i}.txt", minutes=i) for i in range(6)]
    ids.append(record_at(store, "tie.txt", minutes=5))
    # when read 3 at a time following the cursor
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = store.list_page(EventFilter(), limit=3, cursor=cursor)
        seen += [r.id for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
    # then every event came exactly once, newest first (ties by id, descending)
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    created = [store.get_event(i).created_at for i in seen]
    assert created == sorted(created, reverse=True)


def test_filters_state_source_time_route_glob_and_search(store: Store) -> None:
    a = record_at(store, "cam/a.jpg", 1)
    b = record_at(store, "cam/deep/b.mp4", 2, source="other")
    c = record_at(store, "c.jpg", 3)
    fail(store, a, "upload", "NoSuchBucket: bucket 'nope' does not exist")
    fail(store, c, "archive", "disk full")

    def ids(**kw: object) -> set[str]:
        return {r.id for r in store.list_page(EventFilter(**kw), 50).rows}  # type: ignore[arg-type]

    assert ids(state="failed") == {a, c}
    assert ids(state="queued") == {b}
    assert ids(source="other") == {b}
    assert ids(since=T0 + timedelta(minutes=2)) == {b, c}
    assert ids(until=T0 + timedelta(minutes=2)) == {a}
    assert ids(route="upload") == {a}
    assert ids(path_glob="*.jpg") == {a, c}  # no '/': the name at any depth
    assert ids(path_glob="cam/*") == {a, b}  # with '/': the relpath ('*' crosses '/')
    assert ids(path_glob="/data/cam/c.?pg") == {c}  # or the absolute path
    assert ids(search="NOSUCHBUCKET") == {a}  # error text, case-insensitive
    assert ids(search="archive") == {c}  # route name
    assert ids(search="deep/b") == {b}  # path
    assert ids(search="100%") == set()  # LIKE wildcards are literal
    assert store.routes_of([a, b]) == {a: ["upload"]}


def test_cursor_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        Cursor.decode("garbage!")


def test_timeline_has_every_run_and_path_lookup_finds_every_version(store: Store) -> None:
    # given an event that failed, was requeued and ran again
    event = make_event("x/y.bin")
    record(store, event)
    fail(store, event.event_id, "upload", "boom")
    assert store.set_event_state(event.event_id, "queued")
    admit(store, event, plan("upload", step(0, "up")), config_hash="sha-2")
    # when its timeline is read
    runs = store.timeline(event.event_id)
    # then both runs are there with their steps, and the latest run's rules
    assert [(r.run, r.status) for r in runs] == [(1, "failed"), (2, "running")]
    assert runs[0].steps[0].last_error == "boom" and runs[0].steps[0].attempts == 1
    assert store.last_config_hash(event.event_id) == "sha-2"
    # and the absolute path finds it (and not a file with the same relpath elsewhere)
    other = make_event("x/y.bin", source="cam2", path="/elsewhere/x/y.bin")
    record(store, other)
    assert [e.id for e in store.events_by_path("/data/cam/x/y.bin")] == [event.event_id]


def test_status_counts_and_oldest_pending(store: Store) -> None:
    old = record_at(store, "old.txt", 1)
    record_at(store, "new.txt", 30)
    assert store.count_by_state_since(T0 + timedelta(minutes=10)) == {"queued": 1}
    pending = store.oldest_pending()
    assert pending is not None and pending.id == old
