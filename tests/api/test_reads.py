"""Reads through the served API: events (filters, keyset pages, a timeline), summary,
sources, the tree, problem details for bad input."""

from __future__ import annotations

import uuid

from tests.api.conftest import Api
from tests.store.store_helpers import admit, fail_step, make_event, plan, run_step, step


def _events(api: Api, source: str) -> tuple[str, str]:
    """One succeeded and one failed event in ``source``; their ids."""
    store = api.dep.store
    ok = make_event("a/ok.txt", source=source)
    (pid,) = admit(store, ok, plan("copy", step(0, "copy")))
    run_step(store, store.steps_of(pid)[0].id)
    bad = make_event("a/bad.txt", source=source)
    (pid,) = admit(store, bad, plan("copy", step(0, "copy", max_attempts=1)))
    fail_step(store, store.steps_of(pid)[0].id, "ClientError: bucket gone")
    return ok.event_id, bad.event_id


def test_events_filter_page_and_show_a_timeline(api: Api) -> None:
    # given a succeeded and a failed event in a source of their own
    source = f"s{uuid.uuid4().hex[:8]}"
    ok, bad = _events(api, source)
    with api.client("viewer") as client:
        # when the failed ones of that source are listed
        page = client.get("/api/v1/events", params={"source": source, "state": "failed"}).json()
        # then only the failed one is there, with its route
        assert [e["id"] for e in page["items"]] == [bad] and page["items"][0]["routes"] == ["copy"]
        # when pages of one are walked with the cursor
        first = client.get("/api/v1/events", params={"source": source, "limit": 1}).json()
        second = client.get(
            "/api/v1/events", params={"source": source, "limit": 1, "cursor": first["next_cursor"]}
        ).json()
        # then both events come, newest first, and the last page has no cursor
        assert [first["items"][0]["id"], second["items"][0]["id"]] == [bad, ok]
        assert second["next_cursor"] is None
        # when the keyword names the error text
        found = client.get("/api/v1/events", params={"source": source, "q": "bucket gone"}).json()
        assert [e["id"] for e in found["items"]] == [bad]
        # when the failed event is shown
        shown = client.get(f"/api/v1/events/{bad}").json()
        # then its timeline has the pipeline, the step, its attempts and error
        (pipeline,) = shown["pipelines"]
        (only,) = pipeline["steps"]
        assert shown["state"] == "failed" and pipeline["status"] == "failed"
        assert only["attempts"] == 1 and "bucket gone" in only["last_error"]


def test_bad_input_is_a_problem_naming_the_field(sqlite_api: Api) -> None:
    with sqlite_api.client("viewer") as client:
        # when parameters are malformed
        cases = {
            "/api/v1/events?limit=0": "query.limit",
            "/api/v1/events?state=melted": "unknown state",
            "/api/v1/events?since=yesterdayish": "since",
            "/api/v1/events?cursor=zzz": "cursor",
            "/api/v1/summary?window=2y": "query.window",
            f"/api/v1/events/{'f' * 32}": "no event",
            "/api/v1/sources/nope/tree": "no source",
            "/api/v1/sources/inbox/tree?path=../..": "path",
        }
        for url, named in cases.items():
            got = client.get(url)
            # then each is a 4xx problem detail that names what was wrong
            assert 400 <= got.status_code < 500, (url, got.text)
            assert got.headers["content-type"] == "application/problem+json"
            assert named in got.text, (url, got.text)


def test_summary_counts_failures_by_route_and_class(sqlite_api: Api) -> None:
    # given a succeeded and a failed event
    _events(sqlite_api, f"s{uuid.uuid4().hex[:8]}")
    with sqlite_api.client("viewer") as client:
        # when the last hour is summarized
        got = client.get("/api/v1/summary", params={"window": "1h"}).json()
    # then counts, the failure distribution and a per-minute series are there
    assert got["counts"]["failed"] >= 1 and got["counts"]["succeeded"] >= 1
    assert got["failures_by_route"]["copy"] >= 1 and got["failures_by_class"]["ClientError"] >= 1
    assert got["bucket_s"] == 60 and 60 <= len(got["series"]) <= 62
    assert sum(p["succeeded"] for p in got["series"]) >= 1
    assert 0 < got["success_rate"] < 1


def test_sources_pause_resume_and_the_tree(sqlite_api: Api) -> None:
    # given a file in the inbox source that has an event
    inbox = sqlite_api.root / "inbox" / "t"
    inbox.mkdir(exist_ok=True)
    (inbox / "x.txt").write_text("x")
    event = make_event("t/x.txt", source="inbox")
    admit(sqlite_api.dep.store, event, plan("copy", step(0, "copy")))
    with sqlite_api.client("operator") as client:
        # when the operator pauses the source
        paused = client.post("/api/v1/sources/inbox/pause").json()
        # then it is paused, by that token
        assert paused["paused"] is True and paused["paused_by"].startswith("operator-")
        listed = {s["name"]: s for s in client.get("/api/v1/sources").json()}
        assert listed["inbox"]["paused"] and "other" in listed
        resumed = client.post("/api/v1/sources/inbox/resume").json()
        assert resumed["paused"] is False
        # when the tree of the folder is read
        tree = client.get("/api/v1/sources/inbox/tree", params={"path": "t"}).json()
    # then the file is there with its last state
    (entry,) = tree["entries"]
    assert entry["name"] == "x.txt" and entry["state"] == "processing"
    assert entry["event_id"] == event.event_id
