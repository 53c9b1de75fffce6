"""Chaos on the embedded default: ``filerelay run`` with no Redis (SQLite store, filesystem
broker) SIGKILLed — watcher, reconciler and worker at once — in the middle of a burst that
goes in ingest batches, then started again: every file is copied, once each. Real processes."""

from __future__ import annotations

import os

import pytest

from tests.chaos.helpers import assert_once_each, kill, pipeline, restart, settled, spawn
from tests.conftest import wait_for
from tests.store.store_helpers import count_by_state

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

COPY = """\
routes:
  - name: keep
    steps:
      - copy: {{to: "{out}/{{relpath}}"}}
"""


def test_filerelay_run_sigkilled_mid_burst_on_the_embedded_default_loses_nothing(deploy, tmp_path):
    # given `filerelay run` on the embedded default (no broker URL)
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    relay = deploy(pipeline(inbox, COPY.format(out=out)), "")
    run = spawn(relay, "run", "run", "-C", "2")
    run.wait_log("worker_ready", 90)
    run.wait_log("watcher_ready", 90)
    # when 300 files land at once and the whole process group is SIGKILLed mid-burst
    files = {f"d{i % 5}/f{i:03d}.bin": os.urandom(1000 + i) for i in range(300)}
    for rel, data in files.items():
        (inbox / rel).parent.mkdir(exist_ok=True)
        (inbox / rel).write_bytes(data)
    wait_for(lambda: count_by_state(relay.store).get("succeeded", 0) >= 20, 60, 0.02)
    kill(run)
    assert count_by_state(relay.store).get("succeeded", 0) < 300, "the kill came too late"
    restart(run, "watcher_ready")
    # then every file is copied whole, and each has exactly one succeeded event
    wait_for(lambda: settled(relay, 300), 120, 0.5, what="300 succeeded")
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data, rel
    assert_once_each(relay, list(files))
