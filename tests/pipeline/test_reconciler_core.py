"""The reconciler's decisions without a broker: what it re-sends goes to an in-test
:class:`~filerelay.pipeline.publisher.WorkPublisher` (a list), the store is real (SQLite).

The same paths against real Redis are in ``test_reconciler.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from filerelay.model import FileEvent
from filerelay.pipeline.messages import StepMessage
from filerelay.pipeline.publisher import WorkPublisher
from filerelay.pipeline.reconciler import Reconciler
from filerelay.pipeline.runner import Outcome, ingest, run_step
from filerelay.pipeline.runtime import Runtime, build_runtime
from filerelay.settings import load_settings
from tests.conftest import migrated_sqlite, wait_for
from tests.pipeline.test_runner import drain, make_event
from tests.store.store_helpers import record


class ListPublisher:
    """A :class:`WorkPublisher` whose queue is a list: it keeps what it is sent, and reports
    the depth the test gives it."""

    def __init__(self) -> None:
        self.steps: list[StepMessage] = []
        self.ingests: list[FileEvent] = []
        self.depth = 0

    def enqueue(self, outcome: Outcome) -> None:
        self.steps += outcome.enqueue

    def send_ingest(self, event: FileEvent) -> None:
        self.ingests.append(event)

    def queue_depth(self) -> int:
        return self.depth


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Runtime, Reconciler, ListPublisher, Path, Path]]:
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(
        f'sources:\n  - {{name: in, path: "{inbox}"}}\nroutes:\n  - name: r\n    steps:\n'
        f'      - copy: {{to: "{out}/{{relpath}}"}}\n'
        "defaults: {timeout: 1s, retry: {max_attempts: 2}}\n"
    )
    settings = load_settings(
        config=cfg,
        state_dir=tmp_path / "state",
        database_url=migrated_sqlite(tmp_path / "s.db"),
        lease_s=2.0,
    )
    runtime = build_runtime(settings)
    publisher = ListPublisher()
    protocol: WorkPublisher = publisher  # the in-test publisher is a WorkPublisher
    yield runtime, Reconciler(runtime, protocol, grace_s=0.0), publisher, inbox, out
    runtime.close()


def test_a_step_whose_message_was_lost_is_sent_again_while_the_queue_is_idle(env) -> None:
    runtime, reconciler, publisher, inbox, out = env
    # given an ingested file whose first step message never reached a worker
    ev = make_event(inbox, "f.txt")
    step_id = ingest(runtime, ev).enqueue[0].step_id
    # when the reconciler passes with nothing queued
    wait_for(lambda: reconciler.run_once().redriven == 1, 10, what="re-drive of an overdue step")
    # then the step is sent again, and running what was sent finishes the file
    assert [msg.step_id for msg in publisher.steps] == [step_id]
    drain(runtime, Outcome(publisher.steps))
    assert (out / "f.txt").read_bytes() == b"data"
    assert runtime.store.get_event(ev.event_id).state == "succeeded"


def test_while_messages_wait_only_a_step_whose_worker_died_is_sent_again(env) -> None:
    runtime, reconciler, publisher, inbox, _out = env
    ev = make_event(inbox, "f.txt")
    step_id = ingest(runtime, ev).enqueue[0].step_id
    # given a backlog in the queue, which most likely still holds the step's message
    publisher.depth = 3
    # when the reconciler passes, then the pending step is not sent a second time
    assert reconciler.run_once().redriven == 0
    assert publisher.steps == []
    # but once a worker claimed it and died, its lapsed lease is re-driven anyway
    assert runtime.store.claim_step(step_id, "dead-worker", lease_s=0.2) is not None
    wait_for(lambda: reconciler.run_once().redriven == 1, 10, what="re-drive after the lease")
    assert [msg.step_id for msg in publisher.steps] == [step_id]
    assert run_step(runtime, step_id).enqueue == []  # a one-step route: nothing comes next


def test_an_event_recorded_but_never_routed_is_sent_to_ingest_again(env) -> None:
    runtime, reconciler, publisher, inbox, _out = env
    ev = make_event(inbox, "f.txt")
    record(runtime.store, ev)  # the ingest task died right after recording
    assert reconciler.run_once().reingested == 1
    assert [sent.event_id for sent in publisher.ingests] == [ev.event_id]
    assert ingest(runtime, publisher.ingests[0]).enqueue  # the re-sent ingest routes it


def test_the_disk_audit_waits_for_an_idle_queue(env) -> None:
    _runtime, reconciler, publisher, inbox, _out = env
    lost = make_event(inbox, "lost.txt")
    audited: list[int] = []

    def audit() -> list[FileEvent]:
        audited.append(1)
        return [lost]

    reconciler.audit, reconciler.audit_interval_s = audit, 0.0
    # given messages waiting: the audit does not run (their events are not recorded yet)
    publisher.depth = 2
    assert reconciler.run_once().unrecorded == 0 and audited == []
    # when the queue is idle, then the file nobody recorded is sent to ingest
    publisher.depth = 0
    assert reconciler.run_once().unrecorded == 1
    assert [sent.path for sent in publisher.ingests] == [lost.path]
