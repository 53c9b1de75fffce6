"""Chaos on workers: a worker killed mid-step, one step message delivered twice at once, a
worker child killed in the middle of a multipart upload. Real processes throughout."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from filerelay.pipeline.messages import StepMessage
from filerelay.pipeline.runner import ingest
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
from filerelay.tasks import make_celery
from filerelay.tasks.names import STEP
from tests.chaos.helpers import (
    assert_bucket,
    kill,
    pipeline,
    start_reconciler,
    start_watcher,
    start_worker,
    steps_of_file,
    wait_states,
)
from tests.conftest import wait_for
from tests.e2e.harness import Relay
from tests.factories import event_of_file
from tests.store.store_helpers import count_by_state

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

BIG_UPLOAD = """\
routes:
  - name: big
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}",
              multipart_threshold: 16MiB, part_size: 8MiB, concurrency: 1}}
        name: upload
"""

#: ``FILERELAY_RECONCILE_INTERVAL_S``'s default: the reconciler re-drives at its next pass.
DEFAULT_RECONCILE_INTERVAL_S = 15.0


def test_worker_sigkilled_mid_upload_is_replaced_within_a_minute_with_default_leases(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given the documented deployment (watcher, worker, reconciler on Redis) with the default
    # lease and reconcile settings, uploading a 96 MiB file (default 10-minute step timeout)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = pipeline(inbox, BIG_UPLOAD.format(bucket=bucket), endpoint=moto_endpoint)
    relay = deploy(
        text,
        broker_url,
        FILERELAY_LEASE_S=None,
        FILERELAY_RECONCILE_INTERVAL_S=None,
        FILERELAY_RECONCILE_GRACE_S=None,
    )
    start_reconciler(relay)
    first = start_worker(relay, "worker-a", 1)
    start_watcher(relay)
    data = os.urandom(96 * 2**20)
    (inbox / "big.bin").write_bytes(data)
    # when the worker is SIGKILLed (all its processes) in the middle of the upload, and is
    # started again on the same host, as a supervisor does
    wait_for(lambda: parts_saved(relay, "big.bin"), 120, 0.05, what="an upload under way")
    kill(first)
    killed_at = time.monotonic()
    start_worker(relay, "worker-b", 1)
    # then the upload is taken over and completed, well within a lease + one reconcile pass
    wait_states(relay, {"succeeded": 1}, 120)
    recovery_s = time.monotonic() - killed_at
    [step] = steps_of_file(relay, "big.bin")
    print(
        f"recovery after worker SIGKILL mid-upload (default settings): {recovery_s:.1f}s "
        f"(attempt {step.attempts}, resumed {step.result['resumed_parts']} of 12 parts)"
    )
    assert recovery_s <= 60 + DEFAULT_RECONCILE_INTERVAL_S
    assert step.attempts == 2
    assert "agent.predecessor_dead" in (relay.root / "worker-b.log").read_text()
    assert_bucket(s3_client, bucket, {"big.bin": data})


WEBHOOK_ONLY = """\
routes:
  - name: notify
    steps:
      - webhook: {{url: "{url}/hook"}}
defaults: {{timeout: 10s}}
"""


def ingest_without_enqueueing(relay: Relay, path: Path, broker_url: str) -> StepMessage:
    """Record and route one file in this process, as a worker's ingest does, but keep its
    first step message instead of publishing it."""
    settings = load_settings(
        config=relay.config,
        state_dir=relay.state,
        database_url=relay.db_url,
        broker_url=broker_url,
    )
    runtime = build_runtime(settings)
    try:
        event = event_of_file(path, path.parent, source="drop")
        [message] = ingest(runtime, event).enqueue
        return message
    finally:
        runtime.close()


def test_one_step_message_delivered_twice_at_once_has_one_effect(
    deploy, tmp_path, broker_url, receiver_factory
):
    # given two workers and a routed file whose webhook step message was not sent yet
    receiver = receiver_factory(delay_s=1.0)  # the first delivery still holds the lease
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # (DEBUG: Celery's per-task lines, which say which worker took which delivery)
    config = pipeline(inbox, WEBHOOK_ONLY.format(url=receiver.url))
    relay = deploy(config, broker_url, FILERELAY_LOG_LEVEL="DEBUG")
    start_worker(relay, "worker-a", 1)
    start_worker(relay, "worker-b", 1)
    (inbox / "twice.txt").write_bytes(b"deliver me twice")
    msg = ingest_without_enqueueing(relay, inbox / "twice.txt", broker_url)
    # when the same filerelay.step message is published twice at once
    app = make_celery(load_settings(broker_url=broker_url))
    for _ in range(2):
        app.send_task(
            STEP, args=[msg.step_id], kwargs={"event_id": msg.event_id}, queue="filerelay"
        )
    wait_states(relay, {"succeeded": 1}, 30)
    for worker in ("worker-a", "worker-b"):  # each worker took one of the two
        assert "filerelay.step[" in (relay.root / f"{worker}.log").read_text(), worker
    # and once more after the step is done (a late redelivery)
    app.send_task(STEP, args=[msg.step_id], kwargs={"event_id": msg.event_id}, queue="filerelay")
    wait_for(lambda: steps_done(relay) == 3, 20, 0.1, what="all three deliveries handled")
    # then the receiver saw one request, and the step ran once
    assert len(receiver.hits) == 1, receiver.statuses()
    [step] = steps_of_file(relay, "twice.txt")
    assert (step.status, step.attempts) == ("succeeded", 1)
    assert count_by_state(relay.store) == {"succeeded": 1}


def steps_done(relay: Relay) -> int:
    """filerelay.step deliveries the two workers have finished handling."""
    logs = "".join((relay.root / f"worker-{w}.log").read_text() for w in "ab")
    return sum("filerelay.step[" in line and "succeeded in" in line for line in logs.splitlines())


MULTIPART = """\
routes:
  - name: big
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}",
              multipart_threshold: 16MiB, part_size: 8MiB, concurrency: 1}}
        name: upload
        timeout: 8s
"""


def parts_saved(relay, relpath: str) -> tuple[int, int] | None:
    """``(pid running the upload, parts its checkpoint holds)`` while the upload runs."""
    for step in steps_of_file(relay, relpath):
        saved = (step.checkpoint or {}).get("multipart")
        if step.status == "running" and saved:
            return int(step.lease_owner.split(":")[-2]), len(saved["parts"])
    return None


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_worker_child_sigkilled_mid_multipart_upload_resumes_it(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given a worker uploading a 64 MiB file in eight 8 MiB parts, one at a time
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = pipeline(inbox, MULTIPART.format(bucket=bucket), endpoint=moto_endpoint)
    relay = deploy(text, broker_url)
    start_reconciler(relay)
    worker = start_worker(relay, "worker", 1)
    start_watcher(relay)
    data = os.urandom(64 * 2**20)
    (inbox / "big.bin").write_bytes(data)
    # when the worker child running the upload is SIGKILLed after two parts or more
    pid, done = wait_for(
        lambda: (p := parts_saved(relay, "big.bin")) and p[1] >= 2 and p,
        120,
        0.02,
        what="an upload with two parts done",
    )  # type: ignore[misc]
    assert worker.proc is not None and parent_of(pid) == worker.proc.pid  # our worker's child
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # then a later attempt resumes from the saved parts and completes the object, once
    wait_states(relay, {"succeeded": 1}, 90)
    took = time.monotonic() - killed_at
    [step] = steps_of_file(relay, "big.bin")
    result = step.result
    print(
        f"worker child SIGKILL mid-multipart ({done} of 8 parts checkpointed): completed "
        f"{took:.1f}s later on attempt {step.attempts}, resumed {result['resumed_parts']} "
        f"parts, sent {result['parts'] - result['resumed_parts']}"
    )
    assert step.attempts == 2
    assert result["parts"] == 8 and 2 <= result["resumed_parts"] < 8
    assert_bucket(s3_client, bucket, {"big.bin": data})
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
