"""Cancel with compensation end to end: a real watcher, worker and reconciler on Redis, a moto
S3 server. A file's upload completes, the next step (a script) is held running; ``filerelay
cancel --compensate`` stops it and the upload is undone: the object is gone, and the
pipeline ends ``failed`` (cancelled) with its undo step recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from filerelay.model import StepPhase
from tests.conftest import wait_for
from tests.e2e.harness import Relay, run_filerelay, running
from tests.store.store_helpers import events_by_relpath

pytestmark = pytest.mark.slow

CONFIG = """\
connections:
  s3:
    type: s3
    endpoint_url: "{endpoint}"
    access_key_id: "${{AWS_ACCESS_KEY_ID}}"
    secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}"
    path_style: true
sources:
  - name: drop
    path: "{inbox}"
    silence: 300ms
routes:
  - name: upload
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{source}}/{{relpath}}"}}
        name: put
      - script: {{argv: ["sleep", "300"], pass_file_as_arg: false}}
        name: held
"""


@pytest.fixture
def relay(tmp_path, redis_url, moto_endpoint, bucket) -> Iterator[Relay]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = CONFIG.format(endpoint=moto_endpoint, inbox=inbox, bucket=bucket)
    # short leases and reconcile passes: the held step hears of the cancel within a second
    env = {"FILERELAY_LEASE_S": "3", "FILERELAY_RECONCILE_INTERVAL_S": "1"}
    relay = Relay(tmp_path, text, broker_url=redis_url, extra_env=env)
    relay.inbox = inbox  # type: ignore[attr-defined]
    with running(relay):
        yield relay


def test_cancel_with_compensate_undoes_the_completed_upload(relay, s3_client, bucket) -> None:
    relay.start_worker(concurrency=2)
    relay.start_watcher()
    relay._proc("reconciler", "reconcile").start().wait_log("reconciler_starting", 60)
    # given a file uploaded, whose next step is held running
    (relay.inbox / "clip.bin").write_bytes(b"x" * 4096)
    store = relay.store

    def held() -> tuple[str, int] | None:
        found = events_by_relpath(store, "drop", "clip.bin")
        for p in store.pipelines_of(found[0].id) if found else []:
            names = {s.name: s.status for s in store.steps_of(p.id)}
            if names.get("put") == "succeeded" and names.get("held") == "running":
                return found[0].id, p.id
        return None

    event_id, pipeline_id = wait_for(held, 90, 0.2, what="the upload done, the script running")
    key = "drop/clip.bin"
    assert s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"] == 4096
    # when it is cancelled with compensation from the CLI
    done = run_filerelay(("cancel", event_id, "--compensate"), relay.root, relay.env)
    assert done.returncode == 0, done.stderr
    assert "completed steps will be undone" in done.stdout

    # then the uploaded object is removed
    def gone() -> bool:
        listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=key)
        return listed.get("KeyCount", 0) == 0

    wait_for(gone, 60, 0.25, what="the object deleted by the undo step")

    # and the pipeline ends failed (cancelled), its undo step recorded, the event failed
    def ended() -> bool:
        return store.get_event(event_id).state == "failed"

    wait_for(ended, 30, 0.2, what="the event failed")
    (pipeline,) = store.pipelines_of(event_id)
    assert pipeline.id == pipeline_id and pipeline.status == "failed"
    assert pipeline.error is not None and pipeline.error.startswith("cancelled by")
    rows = {s.name: s for s in store.steps_of(pipeline_id)}
    assert rows["held"].status == "cancelled" and rows["put"].status == "succeeded"
    undo = [s for s in rows.values() if s.phase == StepPhase.UNDO]
    assert [(s.name, s.status) for s in undo] == [("undo-put", "succeeded")]
    assert undo[0].undoes == rows["put"].id
    # and the cancel is audited with its parameter
    audit = run_filerelay(("audit", "list", "--action", "cancel", "--json"), relay.root, relay.env)
    assert '"compensate": true' in audit.stdout
