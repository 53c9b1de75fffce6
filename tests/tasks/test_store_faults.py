"""Store faults under a real worker: a corrupted store defers the task that met it (its message
is sent again with backoff); it is never failed, acknowledged and lost. Real worker, Redis."""

from __future__ import annotations

import sqlite3

import pytest

from filerelay.settings import load_settings
from filerelay.tasks import make_celery
from filerelay.tasks.names import STEP
from tests.chaos.test_workers import ingest_without_enqueueing
from tests.conftest import wait_for
from tests.e2e.harness import Relay

pytestmark = pytest.mark.slow

CONFIG = """\
sources:
  - {{name: drop, path: "{inbox}"}}
routes:
  - name: copy
    steps:
      - copy: {{to: "{out}/{{relpath}}"}}
"""


def test_a_task_meeting_a_corrupted_row_is_deferred_not_lost(tmp_path, redis_url):
    # given a worker, and a routed file whose event row in the store is corrupted
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    relay = Relay(tmp_path, CONFIG.format(inbox=inbox, out=out), broker_url=redis_url)
    try:
        relay.start_worker(1)
        (inbox / "f.txt").write_bytes(b"data")
        msg = ingest_without_enqueueing(relay, inbox / "f.txt", redis_url)
        with sqlite3.connect(tmp_path / "store.db") as conn:
            conn.execute("UPDATE file_events SET tags = '{broken'")
        # when its step message arrives
        app = make_celery(load_settings(broker_url=redis_url))
        app.send_task(STEP, args=[msg.step_id], kwargs={"event_id": msg.event_id})
        # then the worker defers it (again and again) instead of failing and dropping it
        log = tmp_path / "worker.log"
        wait_for(lambda: log.read_text().count("task_deferred") >= 2, 60, what="two deferrals")
        assert "raised unexpected" not in log.read_text()
        # and once the row is repaired, the step runs
        with sqlite3.connect(tmp_path / "store.db") as conn:
            conn.execute("UPDATE file_events SET tags = '{}'")
        wait_for(lambda: (out / "f.txt").exists(), 60, what="the copy after the repair")
    finally:
        relay.stop()
