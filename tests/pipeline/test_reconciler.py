"""The reconciler against a real store and a real Redis broker: it re-sends what was lost."""

from __future__ import annotations

import json

import pytest
import redis
import structlog
from structlog.testing import capture_logs

from filerelay.pipeline.reconciler import LOCK_NAME, Reconciler
from filerelay.pipeline.runner import ingest, run_step
from filerelay.pipeline.runtime import build_runtime
from filerelay.settings import load_settings
from filerelay.store.locks import SingletonLock
from filerelay.tasks import make_celery
from filerelay.tasks.publisher import CeleryWorkPublisher
from tests.conftest import migrated_sqlite, wait_for
from tests.pipeline.test_runner import make_event
from tests.store.store_helpers import record

QUEUE = "filerelay"


@pytest.fixture
def setup(tmp_path, redis_url):
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(
        f'sources:\n  - {{name: in, path: "{inbox}"}}\nroutes:\n  - name: r\n    steps:\n'
        f'      - copy: {{to: "{out}/{{relpath}}"}}\n      - delete: {{}}\n'
        "defaults: {timeout: 1s, retry: {max_attempts: 2}}\n"
    )
    settings = load_settings(
        config=cfg,
        state_dir=tmp_path / "state",
        database_url=migrated_sqlite(tmp_path / "s.db"),
        broker_url=redis_url,
        lease_s=2.0,
    )
    runtime = build_runtime(settings)
    app = make_celery(settings)
    reconciler = Reconciler(runtime, CeleryWorkPublisher(app, QUEUE), grace_s=0.0)
    client = redis.Redis.from_url(redis_url)
    yield runtime, reconciler, client, inbox, out
    runtime.close()
    client.close()


def queued(client) -> list[dict]:
    """The messages waiting in the Redis queue (Celery's list), decoded."""
    out = []
    for raw in client.lrange(QUEUE, 0, -1):
        msg = json.loads(raw)
        out.append({"task": msg["headers"]["task"], "args": msg["headers"]["argsrepr"]})
    return out


def test_a_step_whose_worker_died_is_redriven_after_its_lease(setup):
    runtime, reconciler, client, inbox, _out = setup
    ev = make_event(inbox, "f.txt")
    step_id = ingest(runtime, ev).enqueue[0].step_id
    # given a worker that claimed the step and died holding a short lease
    assert runtime.store.claim_step(step_id, "dead-worker", lease_s=0.2) is not None
    client.delete(QUEUE)
    # when the reconciler passes after the lease lapsed
    wait_for(lambda: reconciler.run_once().redriven == 1, 10, what="re-drive after the lease")
    # then the step is sent again, and a worker can finish it
    assert [m["task"] for m in queued(client)] == ["filerelay.step"]
    nxt = run_step(runtime, step_id)
    assert (
        runtime.store.steps_of(runtime.store.pipelines_of(ev.event_id)[0].id)[0].status
        == "succeeded"
    )
    assert nxt.enqueue  # the chain goes on


def test_a_step_that_killed_its_worker_every_time_is_failed(setup):
    runtime, reconciler, _client, inbox, _out = setup
    ev = make_event(inbox, "f.txt")
    step_id = ingest(runtime, ev).enqueue[0].step_id
    for _ in range(2):  # max_attempts: 2, each attempt's worker dies
        wait_for(lambda: runtime.store.claim_step(step_id, "dead", lease_s=0.05), 10)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        wait_for(lambda: reconciler.run_once().poisoned == 1, 10, what="poison cap")
    row = runtime.store.get_event(ev.event_id)
    assert row.state == "failed" and "poison cap" in row.reason
    # and its log line has the step's context, as a worker's lines do
    (line,) = [entry for entry in logs if entry["event"] == "step_poisoned"]
    context = {key: line.get(key) for key in ("event_id", "source", "route", "attempt")}
    assert context == {"event_id": ev.event_id, "source": ev.source, "route": "r", "attempt": 2}


def test_an_event_recorded_but_never_routed_is_ingested_again(setup):
    runtime, reconciler, client, inbox, _out = setup
    ev = make_event(inbox, "f.txt")
    record(runtime.store, ev)  # the ingest task died right after recording
    client.delete(QUEUE)
    assert reconciler.run_once().reingested == 1
    assert [m["task"] for m in queued(client)] == ["filerelay.ingest"]
    assert ingest(runtime, ev).enqueue  # the re-sent ingest routes it


def test_only_one_reconciler_holds_the_lock(setup):
    runtime, reconciler, *_ = setup
    other = SingletonLock(runtime.store.engine, LOCK_NAME)
    assert reconciler.lock.acquire()
    assert not other.acquire()
    reconciler.lock.release()
    assert other.acquire()
    other.release()


def test_an_upload_left_by_a_failed_step_is_aborted(tmp_path, redis_url, moto_endpoint, bucket):
    import boto3

    inbox = tmp_path / "in"
    inbox.mkdir()
    cfg = tmp_path / "rules.yaml"
    cfg.write_text(
        "connections:\n  s3: {type: s3, endpoint_url: "
        f'"{moto_endpoint}", access_key_id: testing, secret_access_key: testing, '
        "path_style: true}\n"
        f'sources:\n  - {{name: in, path: "{inbox}"}}\n'
        f"routes:\n  - name: r\n    steps:\n      - s3: {{connection: s3, bucket: {bucket}}}\n"
    )
    settings = load_settings(
        config=cfg,
        state_dir=tmp_path / "state",
        database_url=migrated_sqlite(tmp_path / "s.db"),
        broker_url=redis_url,
    )
    runtime = build_runtime(settings)
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ev = make_event(inbox, "big.bin")
    step_id = ingest(runtime, ev).enqueue[0].step_id
    # given a step that started a multipart upload, saved it, and then failed for good
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    saved = {
        "bucket": bucket,
        "key": "big.bin",
        "upload_id": upload_id,
        "size": 1,
        "part_size": 5 * 2**20,
        "parts": {},
    }
    claim = runtime.store.claim_step(step_id, "w", lease_s=30)
    assert claim is not None
    assert runtime.store.save_checkpoint(step_id, "w", {"multipart": saved}, 30)
    assert runtime.store.fail_and_advance(claim, "w", "PermanentError: boom", None) is not None
    # when the reconciler passes (orphan age 0)
    publisher = CeleryWorkPublisher(make_celery(settings), QUEUE)
    reconciler = Reconciler(runtime, publisher, orphan_upload_age_s=0.0)
    done = wait_for(lambda: reconciler.run_once().aborted_uploads == 1 or None, 10)
    # then the upload is gone and the checkpoint cleared (the next pass does nothing)
    assert done
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert reconciler.run_once().aborted_uploads == 0
    runtime.close()


def test_files_on_disk_the_store_never_recorded_are_ingested(setup):
    from filerelay.watcher.audit import unrecorded_files

    runtime, reconciler, client, inbox, _out = setup
    recorded = make_event(inbox, "known.txt")
    record(runtime.store, recorded)
    for name in ("lost-1.txt", "sub/lost-2.txt", "x.tmp"):  # x.tmp: filtered, never emitted
        make_event(inbox, name)
    sources = runtime.rules.loaded.model.sources
    reconciler.audit = lambda: unrecorded_files(sources, runtime.store, min_age_s=0.0)
    reconciler.audit_interval_s = 0.0
    client.delete(QUEUE)
    done = reconciler.run_once()
    assert done.unrecorded == 2
    assert done.reingested == 1  # known.txt: recorded but never routed (grace 0)
    paths = [m["args"] for m in queued(client) if m["task"] == "filerelay.ingest"]
    assert sum("lost-" in p for p in paths) == 2 and not any("x.tmp" in p for p in paths)
