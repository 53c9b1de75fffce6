"""Keyword search on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm): matches in the path
(and so the file name), the event's error, a pipeline's route and error, in any case; keyset
pages with a keyword; the same answers when the index finds too many (the walk) or cannot
answer (a short keyword); the index follows updates and deletes."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from filerelay.model import EventState
from filerelay.store import Store, listing, search
from filerelay.store.listing import Cursor, EventFilter
from filerelay.store.records import Verdict
from filerelay.store.schema import file_events as fe
from tests.store.store_helpers import admit, fail_step, make_event, plan, run_step, step, steps_at


def _found(store: Store, keyword: str, limit: int = 50) -> list[str]:
    """Every matching relpath, page after page, newest first."""
    out: list[str] = []
    cursor = None
    while True:
        page = store.list_page(EventFilter(search=keyword), limit, cursor)
        out.extend(r.relpath for r in page.rows)
        if page.next_cursor is None:
            return out
        cursor = Cursor.decode(page.next_cursor)


def _files(store: Store) -> None:
    store.admit(make_event("in/Needle-Report.csv"), Verdict(state=EventState.QUEUED))
    failed = make_event("in/plain1.bin")
    store.admit(failed, Verdict(state=EventState.QUEUED))
    store.set_event_state(failed.event_id, "failed", "vanished: haystackNEEDLE gone")
    [pid] = admit(store, make_event("in/plain2.bin"), plan("needle-route", step(1, "a")))
    run_step(store, steps_at(store, pid, 1)[0])
    [pid] = admit(store, make_event("in/plain3.bin"), plan("other", step(1, "a", max_attempts=1)))
    fail_step(store, steps_at(store, pid, 1)[0], "ClientError: bucket needle denied")
    store.admit(make_event("in/nothing.bin"), Verdict(state=EventState.QUEUED))


WANT = ["in/plain3.bin", "in/plain2.bin", "in/plain1.bin", "in/Needle-Report.csv"]


def test_a_keyword_is_found_in_path_error_route_and_pipeline_error(store: Store) -> None:
    # given files mentioning 'needle' in their name, their error, a route, a step's error
    _files(store)
    # when 'NEEDLE' is searched / then each is found once, newest first, and nothing else
    assert _found(store, "NEEDLE") == WANT
    assert _found(store, "needle-rep") == ["in/Needle-Report.csv"]
    assert _found(store, "no such thing") == []


def test_the_walk_and_the_scan_find_the_same(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the same files, and an index that finds "too many" beyond one event
    _files(store)
    monkeypatch.setattr(listing, "SEARCH_CAP", 1)
    # when searched / then the walk of the newest events finds the same files
    assert _found(store, "needle") == WANT
    # and a keyword too short for the trigram index is still found, by a scan
    assert _found(store, "3.") == ["in/plain3.bin"]


@pytest.mark.parametrize("probe", [2, 4, 1000])
def test_pages_found_among_the_newest_events_are_the_same(
    store: Store, monkeypatch: pytest.MonkeyPatch, probe: int
) -> None:
    # given keyword files spread among others, and a probe of the newest events of a few
    # rows (a page found in it, or not: then the index or the walk answers)
    for i in range(12):
        name = f"p/kw-{i}.txt" if i % 3 != 1 else f"p/other-{i}.txt"
        store.admit(make_event(name), Verdict(state=EventState.QUEUED))
    monkeypatch.setattr(listing, "PROBE_NEWEST", probe)
    monkeypatch.setattr(search, "likely_many", lambda *_args: True)  # probed on SQLite too
    # when read 2 at a time / then the pages hold every match once, newest first
    want = [f"p/kw-{i}.txt" for i in reversed(range(12)) if i % 3 != 1]
    assert _found(store, "kw-", limit=2) == want
    # and for a common keyword too (the index says "too many")
    monkeypatch.setattr(listing, "SEARCH_CAP", 1)
    assert _found(store, "kw-", limit=2) == want


def test_pages_with_a_keyword_cover_every_match_once(store: Store) -> None:
    # given 7 files with the keyword among others
    for i in range(12):
        name = f"p/kw-{i}.txt" if i % 2 == 0 or i == 11 else f"p/other-{i}.txt"
        store.admit(make_event(name), Verdict(state=EventState.QUEUED))
    # when read 3 at a time / then 3 pages hold the 7, newest first, each once
    got = _found(store, "KW-", limit=3)
    assert got == [f"p/kw-{i}.txt" for i in (11, 10, 8, 6, 4, 2, 0)]


def test_the_index_follows_updates_and_deletes(store: Store) -> None:
    # given a file whose error changes, and one deleted
    event = make_event("u/a.bin")
    store.admit(event, Verdict(state=EventState.QUEUED))
    store.set_event_state(event.event_id, "failed", "first-words here")
    gone = make_event("u/gone-words.bin")
    store.admit(gone, Verdict(state=EventState.QUEUED))
    assert _found(store, "first-words") == ["u/a.bin"]
    # when the error is replaced and the other file deleted
    store.set_event_state(event.event_id, "queued")
    store.set_event_state(event.event_id, "failed", "second-words now")
    with store.engine.begin() as conn:
        conn.execute(delete(fe).where(fe.c.id == gone.event_id))
    # then the index knows
    assert _found(store, "first-words") == []
    assert _found(store, "second-words") == ["u/a.bin"]
    assert _found(store, "gone-words") == []


def test_path_globs_narrowed_by_the_index_stay_case_sensitive(store: Store) -> None:
    # given files whose names differ in case only, and others
    for name in ("in/Clip.MP4", "in/clip.mp4", "in/deep/x/clip.mp4", "other/clip.mp4.txt"):
        store.admit(make_event(name), Verdict(state=EventState.QUEUED))

    def globbed(pattern: str) -> list[str]:
        return sorted(r.relpath for r in store.list_page(EventFilter(path_glob=pattern)).rows)

    # when globbed by name at any depth, by absolute path and by relpath prefix
    # then only exact-case matches come back
    assert globbed("clip.mp4") == ["in/clip.mp4", "in/deep/x/clip.mp4"]
    assert globbed("*.MP4") == ["in/Clip.MP4"]
    assert globbed("/data/cam/in/C*") == ["in/Clip.MP4"]
    assert globbed("in/*/clip.mp4") == ["in/deep/x/clip.mp4"]
    assert globbed("other/*") == ["other/clip.mp4.txt"]
    # and a glob's '*' still spans slashes where the index narrows by its longest run
    assert globbed("x*mp4") == ["in/deep/x/clip.mp4"]
    assert globbed("*deep*clip.mp4") == ["in/deep/x/clip.mp4"]
    assert globbed("*IP.MP4") == []
