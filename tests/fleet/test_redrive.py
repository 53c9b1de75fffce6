"""Affinity survives every path a step message takes: the first send, a retry, the
reconciler's re-drive; and each step records the host that ran it (real SQLite store)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from filerelay.pipeline.reconciler import Reconciler
from filerelay.pipeline.runner import ingest, run_step
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
from filerelay.store.schema import steps
from tests.conftest import free_port, migrated_sqlite, wait_for
from tests.factories import event_of_file
from tests.fleet.publishers import ListPublisher


def test_file_steps_keep_their_host_through_retry_and_redrive(tmp_path: Path) -> None:
    # given a worker of host-b and a file seen by host-a's watcher, routed to an upload of
    # the file that fails (nothing listens: retryable)
    inbox = tmp_path / "in"
    inbox.mkdir()
    port = free_port()
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(
        f'sources:\n  - {{name: in, path: "{inbox}"}}\nroutes:\n  - name: r\n    steps:\n'
        f'      - webhook: {{url: "http://127.0.0.1:{port}/up", upload_file: true}}\n'
        "defaults: {timeout: 1s, retry: {max_attempts: 3, backoff: 0s, max_backoff: 0s}}\n"
    )
    settings = load_settings(
        config=cfg,
        state_dir=tmp_path / "state",
        database_url=migrated_sqlite(tmp_path / "s.db"),
        agent_id="host-b",
    )
    runtime = build_runtime(settings)
    try:
        (inbox / "f.txt").write_bytes(b"data")
        event = event_of_file(inbox / "f.txt", inbox, source="in", agent="host-a")
        # when it is ingested / then its copy step goes to host-a's queue
        (first,) = ingest(runtime, event).enqueue
        assert first.agent == "host-a"
        # when the step fails and is retried / then the retry goes to host-a too
        (retry,) = run_step(runtime, first.step_id).enqueue
        assert retry.agent == "host-a"
        # and the step row says which host's worker ran it
        with runtime.store.engine.connect() as conn:
            ran_on = conn.execute(select(steps.c.agent).where(steps.c.id == first.step_id))
            assert ran_on.scalar() == "host-b"
        # when the retry's message is lost / then the reconciler re-sends it to host-a's queue
        publisher = ListPublisher()
        reconciler = Reconciler(runtime, publisher, grace_s=0.0)
        wait_for(lambda: reconciler.run_once().redriven >= 1, 10, what="a re-drive")
        assert {m.agent for m in publisher.steps} == {"host-a"}
    finally:
        runtime.close()
