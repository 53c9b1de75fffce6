"""Server-Sent Events received by a real client: file and pipeline outcomes, the log tail;
the stream routes refuse callers without credentials."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import httpx
from httpx_sse import connect_sse

from filerelay.api.sse import Hub
from filerelay.store.admin import ControlStore
from tests.api.conftest import Api
from tests.conftest import wait_for
from tests.store.store_helpers import admit, make_event, plan, run_step, step


def _listen(
    api: Api, path: str, got: list[tuple[str, dict[str, Any]]], stop: threading.Event
) -> None:
    with (
        httpx.Client(
            base_url=api.url,
            headers={"Authorization": f"Bearer {api.tokens['viewer']}"},
            timeout=30,
        ) as client,
        connect_sse(client, "GET", path) as source,
    ):
        for sse in source.iter_sse():
            got.append((sse.event, json.loads(sse.data)))
            if stop.is_set():
                return


def test_outcomes_and_log_records_arrive_as_server_sent_events(sqlite_api: Api) -> None:
    # given a fast poller and two clients listening (outcomes, and the error log tail)
    sqlite_api.app.state.hub = Hub(sqlite_api.dep, poll_s=0.1)
    outcomes: list[tuple[str, dict[str, Any]]] = []
    tail: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_listen, args=(sqlite_api, "/api/v1/stream", outcomes, stop), daemon=True
        ),
        threading.Thread(
            target=_listen,
            args=(sqlite_api, "/api/v1/logs/stream?level=error", tail, stop),
            daemon=True,
        ),
    ]
    for t in threads:
        t.start()
    wait_for(lambda: len(sqlite_api.app.state.hub._subs) == 2, 10, what="two subscribers")
    try:
        # when a file's pipeline succeeds and an agent logs an error
        store = sqlite_api.dep.store
        event = make_event(f"live/{uuid.uuid4().hex[:6]}.bin")
        (pid,) = admit(store, event, plan("copy", step(0, "copy")))
        run_step(store, store.steps_of(pid)[0].id)
        row = {
            "at": store_now(),
            "agent": "worker@t",
            "level": "error",
            "event": "boom",
            "fields": {"x": 1},
        }
        ControlStore(store.engine).add_logs([row, {**row, "level": "warning"}], 1000)
        # then the outcome and the error (not the warning) arrive
        # (the two outcomes may reach the client in separate polls: wait for both)
        wait_for(
            lambda: (
                {("event", event.event_id), ("pipeline", pid)}
                <= {(k, r.get("id")) for k, r in outcomes}
            ),
            10,
            what="the event's and the pipeline's outcomes",
        )
        wait_for(
            lambda: [r["event"] for _, r in tail] == ["boom"], 10, what="the error in the tail"
        )
    finally:
        stop.set()
        ControlStore(sqlite_api.dep.store.engine).add_logs([], 1000)
        sqlite_api.app.state.hub.stop()


def test_the_streams_refuse_a_caller_without_credentials(sqlite_api: Api) -> None:
    with sqlite_api.client(None) as anon:
        for path in ("/api/v1/stream", "/api/v1/logs/stream"):
            assert anon.get(path).status_code == 401


def test_the_log_sink_keeps_warnings_and_outcomes_and_the_api_filters_them(sqlite_api: Api) -> None:
    # given a log sink of an agent on this deployment's store
    from filerelay import logsink

    agent = f"watcher@t:{uuid.uuid4().hex[:6]}"
    sink = logsink.StoreLogSink(sqlite_api.dep.settings, agent, flush_s=0.1)
    logger = logging.getLogger(f"test.sink.{agent}")
    logger.addHandler(sink)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        # when it logs an info line, a warning and an outcome line
        logger.info({"event": "chatter"})
        logger.warning({"event": "disk_slow", "path": "/x"})
        logger.info({"event": "event_finished", "state": "succeeded"})
        # then the API's logs show the warning and the outcome of that agent, not the chatter
        with sqlite_api.client("viewer") as client:

            def kept() -> list[str]:
                page = client.get("/api/v1/logs", params={"agent": agent}).json()
                return sorted(r["event"] for r in page["items"])

            assert wait_for(lambda: kept() == ["disk_slow", "event_finished"], 10, what="records")
            found = client.get("/api/v1/logs", params={"agent": agent, "q": "/x"}).json()
            assert [r["event"] for r in found["items"]] == ["disk_slow"]
    finally:
        logger.removeHandler(sink)


def store_now() -> Any:
    from filerelay.store.db import utcnow

    return utcnow()


def test_step_outcomes_arrive_as_server_sent_events_for_one_file(sqlite_api: Api) -> None:
    # given a fast poller and a client listening to one file's outcomes only
    from datetime import timedelta

    sqlite_api.app.state.hub = Hub(sqlite_api.dep, poll_s=0.1)
    store = sqlite_api.dep.store
    event = make_event(f"live/{uuid.uuid4().hex[:6]}.bin")
    other = make_event(f"live/{uuid.uuid4().hex[:6]}.bin")
    (pid,) = admit(store, event, plan("two", step(0, "fetch"), step(1, "send")))
    (other_pid,) = admit(store, other, plan("two", step(0, "fetch")))
    got: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()
    path = f"/api/v1/stream?event_id={event.event_id}"
    thread = threading.Thread(target=_listen, args=(sqlite_api, path, got, stop), daemon=True)
    thread.start()
    wait_for(lambda: len(sqlite_api.app.state.hub._subs) == 1, 10, what="a subscriber")
    try:
        # when its first step succeeds, the second starts, fails once and is put back to retry
        run_step(store, store.steps_of(pid)[0].id, {"key": "a/b"})
        run_step(store, store.steps_of(other_pid)[0].id)
        send = store.steps_of(pid)[1].id
        claim = store.claim_step(send, "w", 60)
        assert claim is not None

        def steps_seen() -> list[tuple[str, int, str]]:
            return [(r["name"], r["attempt"], r["state"]) for k, r in got if k == "step"]

        wait_for(lambda: ("send", 1, "running") in steps_seen(), 10, what="send running")
        later = store_now() + timedelta(seconds=30)
        assert store.retry_step(send, "w", "HTTP 503 from the receiver", later)
        # then the client hears each step's outcome with its attempt and error, in order
        wait_for(lambda: ("send", 1, "retrying") in steps_seen(), 10, what="send retrying")
        assert steps_seen() == [
            ("fetch", 1, "succeeded"),
            ("send", 1, "running"),
            ("send", 1, "retrying"),
        ]
        retrying = next(r for k, r in got if k == "step" and r["state"] == "retrying")
        assert retrying["error"] == "HTTP 503 from the receiver"
        assert retrying["action"] == "copy" and retrying["route"] == "two"
        assert retrying["event_id"] == event.event_id and retrying["next_attempt_at"]
        # and nothing of the other file arrives
        assert all(r.get("event_id", r.get("id")) == event.event_id for _, r in got)
    finally:
        stop.set()
        sqlite_api.app.state.hub.stop()
