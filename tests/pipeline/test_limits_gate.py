"""The runner's gate: a destination's breaker opens after consecutive failures, holds steps
back without using their attempts, lets one probe through after the cool-down and closes on
its success; a rate limit with no token defers a step without using an attempt.

Real store (SQLite), a real HTTP receiver (pytest-httpserver); messages driven by hand.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from filerelay.pipeline.hooks import StepHooks
from filerelay.pipeline.messages import MAX_COUNTDOWN_S, StepMessage
from filerelay.pipeline.runner import ingest, run_step
from filerelay.pipeline.runtime import Runtime, build_runtime
from filerelay.settings import load_settings
from filerelay.store.limits import CLOSED, OPEN, LimitStore
from tests.conftest import migrated_sqlite, wait_for
from tests.factories import event_of_file


class Receiver:
    """Answers 503 while ``failing``; counts requests per idempotency key."""

    def __init__(self) -> None:
        self.failing = True
        self.calls: list[str] = []

    def __call__(self, request: Request) -> Response:
        self.calls.append(request.headers.get("Idempotency-Key", ""))
        return Response("down", status=503) if self.failing else Response("ok", status=200)


class Seen(StepHooks):
    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []
        self.deferred: list[str] = []

    def breaker_changed(self, destination: str, state: str) -> None:
        self.changes.append((destination, state))

    def step_deferred(self, claim: object, destination: str, reason: str) -> None:
        self.deferred.append(reason)


def runtime_for(tmp_path: Path, step_yaml: str, seen: Seen) -> tuple[Runtime, Path]:
    inbox = tmp_path / "in"
    inbox.mkdir()
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(
        f'sources:\n  - {{name: in, path: "{inbox}"}}\nroutes:\n  - name: r\n    steps:\n'
        + step_yaml
    )
    settings = load_settings(
        config=cfg, state_dir=tmp_path / "state", database_url=migrated_sqlite(tmp_path / "s.db")
    )
    return build_runtime(settings, hooks=[seen]), inbox


#: When each message sent by a step is due (its countdown, as the broker would hold it).
_due: dict[int, float] = {}


def run_all(runtime: Runtime, queue: list[StepMessage]) -> list[StepMessage]:
    """Run each message that is due once, keeping the others (a broker delivers a message
    only when its countdown is over: run early, a deferred step is not claimable and its
    message would be lost to the test); the messages still to run."""
    out: list[StepMessage] = []
    for msg in queue:
        if time.monotonic() < _due.get(id(msg), 0.0):
            out.append(msg)
            continue
        _due.pop(id(msg), None)
        for sent in run_step(runtime, msg.step_id).enqueue:
            _due[id(sent)] = time.monotonic() + sent.countdown_s
            out.append(sent)
    return out


def attempts(runtime: Runtime) -> list[int]:
    with runtime.store.engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT attempts FROM steps ORDER BY id")]


def test_breaker_holds_steps_back_without_attempts_and_closes_after_a_probe(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    # given a webhook whose receiver fails, with a breaker of 2 failures and a short cool-down
    receiver = Receiver()
    httpserver.expect_request("/in").respond_with_handler(receiver)
    seen = Seen()
    rt, inbox = runtime_for(
        tmp_path,
        f'      - webhook: {{url: "{httpserver.url_for("/in")}"}}\n'
        "        breaker: {failures: 2, cool_down: 600ms}\n"
        "        retry: {max_attempts: 5, backoff: 0s}\n",
        seen,
    )
    events = []
    queue: list[StepMessage] = []
    for name in ("a", "b", "c"):
        (inbox / name).write_bytes(b"x")
        events.append(event_of_file(inbox / name, inbox, source="in"))
        queue += ingest(rt, events[-1]).enqueue
    # when the three steps run while the receiver fails
    queue = run_all(rt, queue)
    # then two failures opened the breaker and the third step was held back, no attempt used
    dest = f"host:{urlsplit(httpserver.url_for('/in')).netloc}"
    assert seen.changes == [(dest, OPEN)]
    assert len(receiver.calls) == 2 and sorted(attempts(rt)) == [0, 1, 1]
    # when the steps come back while it is open: nothing reaches the receiver, no attempt used
    for _ in range(3):
        queue = run_all(rt, queue)
    assert len(receiver.calls) == 2 and sorted(attempts(rt)) == [0, 1, 1]
    held = rt.store.steps_of(rt.store.pipelines_of(events[2].event_id)[0].id)[0]
    assert held.last_error is not None
    assert held.last_error.startswith(f"waiting: breaker open for {dest} until ")
    # when the receiver recovers and the cool-down passes: one probe closes it, all go through
    receiver.failing = False

    def delivered() -> bool:
        nonlocal queue
        queue = run_all(rt, queue)
        return all(rt.store.get_event(e.event_id).state == "succeeded" for e in events)

    wait_for(delivered, timeout_s=10, what="every file delivered")
    assert seen.changes == [(dest, OPEN), (dest, CLOSED)]
    # and each file reached the receiver once after the recovery (2 failed calls before)
    assert sorted(receiver.calls[2:]) == sorted(set(receiver.calls[2:]))
    assert len(receiver.calls) == 5
    (row,) = LimitStore(rt.store.engine).breakers()
    assert (row.state, row.failures, row.opens) == (CLOSED, 0, 1)
    rt.close()


def test_a_rate_limit_without_a_token_defers_the_step_without_an_attempt(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    # given a webhook limited to 1 per hour, whose single token is spent
    httpserver.expect_request("/in").respond_with_data("ok")
    seen = Seen()
    rt, inbox = runtime_for(
        tmp_path,
        f'      - webhook: {{url: "{httpserver.url_for("/in")}"}}\n        rate_limit: 1/h\n',
        seen,
    )
    queue: list[StepMessage] = []
    for name in ("a", "b"):
        (inbox / name).write_bytes(b"x")
        queue += ingest(rt, event_of_file(inbox / name, inbox, source="in")).enqueue
    # when both steps run
    sent = run_all(rt, queue)
    # then the first went; the second is deferred (an hour, sent as the longest countdown)
    # without using an attempt
    assert len(httpserver.log) == 1
    assert seen.deferred == ["rate_limit"]
    (later,) = sent
    assert later.countdown_s == MAX_COUNTDOWN_S
    assert sorted(attempts(rt)) == [0, 1]
    rt.close()
