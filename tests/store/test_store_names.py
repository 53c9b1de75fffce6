"""File names that are not UTF-8 (or hold a backslash) round-trip through the store exactly,
on SQLite and PostgreSQL: recorded, found by path, listed, searched."""

from __future__ import annotations

import os

import pytest
from alembic import command
from sqlalchemy import Engine, text

from filerelay.store import Store
from filerelay.store.listing import EventFilter
from filerelay.store.migrate import alembic_config, upgrade
from tests.store.store_helpers import admit, make_event, plan, record, step

LATIN1 = os.fsdecode(b"in/caf\xe9.txt")  # "in/caf\udce9.txt"
BACKSLASH = "in/caf\\xe9.txt"  # a UTF-8 name that spells the escape itself


@pytest.mark.parametrize("relpath", [LATIN1, BACKSLASH, "in/\u00e9t\u00e9 \u2603.txt"])
def test_a_name_is_recorded_and_read_back_exactly(store: Store, relpath: str) -> None:
    # given an event of a file with this name
    event = make_event(relpath)
    # when it is recorded and its pipeline's step fails quoting the path
    [pid] = admit(store, event, plan("keep", step(0, "copy")))
    [s] = store.steps_of(pid)
    claim = store.claim_step(s.id, "w", 60)
    assert claim is not None
    store.fail_and_advance(claim, "w", f"permission denied: {event.path}", None)
    # then the row gives back the exact name, key and path
    row = store.get_event(event.event_id)
    assert row is not None
    assert (row.relpath, row.path, row.dedup_key) == (relpath, event.path, event.dedup_key)
    assert store.steps_of(pid)[0].idempotency_key.startswith(event.dedup_key)
    # and the error text is kept, its non-UTF-8 bytes written \xNN
    assert store.steps_of(pid)[0].last_error == "permission denied: /data/cam/" + (
        "in/caf\\xe9.txt" if relpath == LATIN1 else relpath
    )
    # and it is found by its path, and it is the same file version when seen again
    assert [r.id for r in store.events_by_path(event.path)] == [event.event_id]
    assert store.known_dedup_keys([event.dedup_key]) == {event.dedup_key}


def test_the_latin1_name_and_its_spelled_out_escape_are_two_files(store: Store) -> None:
    # given one file whose name has the byte 0xE9 and one whose name spells "\xe9"
    latin1, spelled = make_event(LATIN1, inode=5), make_event(BACKSLASH, inode=5)
    record(store, latin1)
    record(store, spelled)
    # then each is its own primary event, found under its own path
    assert store.get_event(spelled.event_id).state == "queued"
    assert [r.id for r in store.events_by_path(latin1.path)] == [latin1.event_id]
    assert [r.id for r in store.events_by_path(spelled.path)] == [spelled.event_id]


def test_listing_globs_and_search_find_such_names(store: Store) -> None:
    # given events of a Latin-1 name, a backslash name and a plain one
    for rel in (LATIN1, BACKSLASH, "in/plain.txt"):
        record(store, make_event(rel))

    def found(**flt: str) -> list[str]:
        return sorted(r.relpath for r in store.list_page(EventFilter(**flt), 50).rows)  # type: ignore[arg-type]

    # then a glob or a keyword matches them as the user types them
    assert found(path_glob="caf*") == sorted([LATIN1, BACKSLASH])
    assert found(path_glob=os.fsdecode(b"caf\xe9.txt")) == [LATIN1]
    assert found(path_glob="caf\\xe9.txt") == [BACKSLASH]
    assert found(search="\\xe9") == [BACKSLASH]


def test_the_migration_doubles_backslashes_of_names_recorded_before(engine: Engine) -> None:
    # given a row written by 0005 (no escaping) with a backslash in its name
    store = Store(engine)
    event = make_event("in/a\\b.txt")
    record(store, event)
    with engine.begin() as conn:  # the later revisions undone (they add columns)
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0008")
    with engine.begin() as conn:
        for column in ("path", "relpath", "dedup_key"):
            conn.execute(
                text(f"UPDATE file_events SET {column} = replace({column}, :two, :one)"),
                {"two": "\\\\", "one": "\\"},
            )
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    # when migrated again (0007 doubles the backslashes; the later revisions were undone)
    upgrade(engine)
    # then it reads back as the same name and the same file version
    row = store.get_event(event.event_id)
    assert row is not None and (row.relpath, row.dedup_key) == (event.relpath, event.dedup_key)
    assert store.known_dedup_keys([event.dedup_key]) == {event.dedup_key}
