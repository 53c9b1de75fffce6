"""Chaos on what the steps depend on: the S3 server down or its bucket missing, a webhook that
fails before it answers, a step failing for good after an upload (compensation), and the
store itself unreachable. Real processes, servers and sockets throughout."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from filerelay.store.rows import StepRow
from tests.chaos.helpers import (
    TcpProxy,
    assert_bucket,
    assert_once_each,
    pipeline,
    settled,
    start_reconciler,
    start_watcher,
    start_worker,
    steps_of_file,
    wait_states,
    write_files,
)
from tests.conftest import wait_for
from tests.e2e.test_core_pipeline import objects
from tests.store.store_helpers import count_by_state, events_by_relpath

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

UPLOAD = """\
routes:
  - name: ship
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
        name: upload
defaults: {{timeout: 5s, retry: {{max_attempts: {attempts}, backoff: 1s, max_backoff: 3s}}}}
"""


def upload_step(relay, relpath: str) -> StepRow:
    [step] = [s for s in steps_of_file(relay, relpath) if s.name == "upload"]
    return step


def failed_once(relay, relpath: str) -> bool:
    """The file's upload has had an attempt, and it failed (a retry is scheduled)."""
    step = upload_step(relay, relpath)
    return step.attempts >= 2 or (step.attempts == 1 and step.status == "pending")


def test_s3_down_for_15s_steps_retry_with_backoff_and_succeed(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given workers that reach the S3 server through a proxy
    proxy = TcpProxy(int(urlsplit(moto_endpoint).port or 0))
    try:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        routes = UPLOAD.format(bucket=bucket, attempts=20)
        relay = deploy(
            pipeline(inbox, routes, endpoint=f"http://127.0.0.1:{proxy.port}"), broker_url
        )
        start_reconciler(relay)
        start_worker(relay, "worker", 2)
        start_watcher(relay)
        # when the S3 server is unreachable for 15 s while 10 files arrive
        proxy.cut()
        cut_at = time.monotonic()
        files = {f"f{i}.bin": os.urandom(1000 + i) for i in range(10)}
        write_files(inbox, files)
        wait_for(
            lambda: all(failed_once(relay, rel) for rel in files), 15, 0.2, what="a failed try each"
        )
        time.sleep(max(0.0, 15 - (time.monotonic() - cut_at)))  # the outage itself
        proxy.restore()
        back_at = time.monotonic()
        # then every step succeeds after a few attempts, each file once
        wait_states(relay, {"succeeded": 10}, 60)
        took = time.monotonic() - back_at
        attempts = sorted(upload_step(relay, rel).attempts for rel in files)
        print(f"S3 down 15s: all done {took:.1f}s after it came back; attempts per step {attempts}")
        assert all(2 <= a < 20 for a in attempts), attempts
        assert_bucket(s3_client, bucket, files)
        assert_once_each(relay, list(files))
    finally:
        proxy.close()


MISSING_BUCKET = """\
routes:
  - name: ship
    steps:
      - s3: {{connection: s3, bucket: "{missing}", key: "{{relpath}}"}}
        name: upload
    on_failure:
      - move: {{to: "{quarantine}/{{relpath}}"}}
defaults: {{timeout: 5s, retry: {{max_attempts: 5, backoff: 200ms}}}}
"""


def test_missing_bucket_fails_at_once_and_quarantines_the_file(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client
):
    # given a route uploading to a bucket that does not exist, quarantining on failure
    inbox, quarantine = tmp_path / "inbox", tmp_path / "quarantine"
    inbox.mkdir()
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    routes = MISSING_BUCKET.format(missing=missing, quarantine=quarantine)
    relay = deploy(pipeline(inbox, routes, endpoint=moto_endpoint), broker_url)
    start_worker(relay, "worker", 1)
    start_watcher(relay)
    # when a file arrives
    (inbox / "sub").mkdir()
    (inbox / "sub/doomed.csv").write_bytes(b"a,b\n1,2\n")
    # then the step fails once, without retries, and on_failure moves the file aside
    wait_states(relay, {"failed": 1}, 30)
    [event] = events_by_relpath(relay.store, "drop", "sub/doomed.csv")
    assert "NoSuchBucket" in (event.reason or ""), event.reason
    steps = {s.name: s for s in steps_of_file(relay, "sub/doomed.csv")}
    assert steps["upload"].attempts == 1
    assert steps["upload"].status == "failed"
    [quarantined] = [s for s in steps.values() if s.phase == "on_failure"]
    assert quarantined.status == "succeeded"
    assert (quarantine / "sub/doomed.csv").read_bytes() == b"a,b\n1,2\n"
    assert not (inbox / "sub/doomed.csv").exists()
    [pipe] = relay.store.pipelines_of(event.id)
    assert pipe.status == "failed"
    assert missing not in {b["Name"] for b in s3_client.list_buckets()["Buckets"]}


FLAKY_HOOK = """\
routes:
  - name: notify
    steps:
      - webhook: {{url: "{url}/hook"}}
        name: hook
defaults: {{timeout: 5s, retry: {{max_attempts: 6, backoff: 200ms, max_backoff: 500ms}}}}
"""


def test_webhook_500_three_times_then_200_is_one_success_in_four_attempts(
    deploy, tmp_path, broker_url, receiver_factory
):
    # given a receiver answering 500 three times, then 200
    receiver = receiver_factory(lambda _key, n: 500 if n < 3 else 200)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    relay = deploy(pipeline(inbox, FLAKY_HOOK.format(url=receiver.url)), broker_url)
    start_worker(relay, "worker", 1)
    start_watcher(relay)
    # when a file arrives
    (inbox / "ping.json").write_bytes(b"{}")
    # then the step succeeds on its fourth attempt, every attempt under the same key
    wait_states(relay, {"succeeded": 1}, 30)
    [step] = steps_of_file(relay, "ping.json")
    assert (step.status, step.attempts) == ("succeeded", 4)
    assert [h.status for h in receiver.hits] == [500, 500, 500, 200]
    assert {h.key for h in receiver.hits} == {step.idempotency_key}
    assert {h.headers["idempotency-key"] for h in receiver.hits} == {step.idempotency_key}
    assert receiver.successes() == {step.idempotency_key: 1}


COMPENSATED = """\
routes:
  - name: hooked
    when: {{glob: "hook/**"}}
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
      - webhook: {{url: "{url}/missing"}}
  - name: moved
    when: {{glob: "move/**"}}
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
      - move: {{to: "{done}/{{relpath}}"}}
defaults: {{timeout: 5s, retry: {{max_attempts: 3, backoff: 200ms}}}}
"""


def test_step_failing_for_good_after_an_upload_deletes_the_object(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket, receiver_factory
):
    # given uploads followed by a webhook answering 404, or a move onto a different file
    receiver = receiver_factory(lambda _key, _n: 404)
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    (done / "move").mkdir(parents=True)
    (done / "move/b.txt").write_bytes(b"someone else's b")
    inbox.mkdir()
    routes = COMPENSATED.format(bucket=bucket, url=receiver.url, done=done)
    relay = deploy(pipeline(inbox, routes, endpoint=moto_endpoint), broker_url)
    start_worker(relay, "worker", 2)
    start_watcher(relay)
    # when one file of each kind arrives
    write_files(inbox, {"hook/a.txt": b"a for the webhook", "move/b.txt": b"b to move"})
    # then both pipelines fail, and each uploaded object is deleted again
    wait_states(relay, {"failed": 2}, 30)
    wait_for(lambda: objects(s3_client, bucket) == {}, 10, 0.2, what="objects deleted")
    for rel in ("hook/a.txt", "move/b.txt"):
        [event] = events_by_relpath(relay.store, "drop", rel)
        [pipe] = relay.store.pipelines_of(event.id)
        assert pipe.status == "failed", (rel, pipe)
        steps = steps_of_file(relay, rel)
        [upload] = [s for s in steps if s.action == "s3" and s.phase == "main"]
        [undo] = [s for s in steps if s.phase == "undo"]
        assert upload.status == "succeeded" and upload.result["uploaded"] is True
        assert (undo.status, undo.undoes) == ("succeeded", upload.id)
    assert len(receiver.hits) == 1 and receiver.hits[0].status == 404  # 404: not retried
    assert (done / "move/b.txt").read_bytes() == b"someone else's b"
    assert (inbox / "move/b.txt").read_bytes() == b"b to move"


def store_behind(proxy: TcpProxy, pg_url: str) -> str:
    """The store URL through ``proxy``, without TLS so the proxy can read the statements, on
    psycopg2: it sends every statement's text with its values, where psycopg 3 sends only a
    prepared statement's name after its fifth run, and a trap would never see it again."""
    pytest.importorskip("psycopg2", reason="the proxy reads statement text (psycopg2)")
    rest = pg_url.split("://", 1)[1]
    url = urlsplit("postgresql://" + rest)
    where = f"{url.hostname}:{url.port or 5432}"
    return (
        "postgresql+psycopg2://"
        + rest.replace(where, f"127.0.0.1:{proxy.port}")
        + ("?sslmode=disable")
    )


Marker = tuple[bytes, ...] | list[tuple[bytes, ...]]


def trap(*markers: Marker, armed: threading.Event | None = None) -> Callable[[bytes], bool]:
    """A proxy tap that cuts once, at the first statement holding the last of ``markers``
    after statements holding each earlier one were seen, in order (on any connection). A
    marker is the byte strings one write must all hold (psycopg 3 binds parameters on the
    server, so a statement's text and its values travel as separate parts of one write), or
    a list of such alternatives."""
    seen = [0]
    lock = threading.Lock()

    def holds(data: bytes, marker: Marker) -> bool:
        alternatives = marker if isinstance(marker, list) else [marker]
        return any(all(part in data for part in alt) for alt in alternatives)

    def tap(data: bytes) -> bool:
        with lock:
            if (armed is not None and not armed.is_set()) or seen[0] == len(markers):
                return False
            if holds(data, markers[seen[0]]):
                seen[0] += 1
                return seen[0] == len(markers)
            return False

    return tap


# a step claimed: by its own UPDATE, or inserted claimed by an ingest batch's admission (the
# store's processes here use psycopg2, which sends the values inside the statement's text)
CLAIM = [(b"UPDATE steps SET status='running'",), (b"INSERT INTO steps", b"'running'")]
COMPLETE = (b"UPDATE steps SET status='succeeded'",)
LOCK_PIPELINE = (b"FOR UPDATE",)  # the first statement of advance()


def test_store_unreachable_for_10s_loses_nothing(
    pg_url, deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):  # pg_url first: its database is dropped after the processes stop
    # given every process reaching a test-owned PostgreSQL store through a proxy, and one
    # worker process (so the outage starts at a known point: as a step is being claimed)
    armed = threading.Event()
    proxy = TcpProxy(urlsplit(pg_url).port or 5432, tap=trap(CLAIM, armed=armed))
    try:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        routes = UPLOAD.format(bucket=bucket, attempts=5)
        text = pipeline(inbox, routes, endpoint=moto_endpoint)
        relay = deploy(text, broker_url, FILERELAY_DATABASE_URL=store_behind(proxy, pg_url))
        relay.db_url = pg_url  # the test reads the store directly
        start_reconciler(relay)
        start_worker(relay, "worker", 1)
        start_watcher(relay)
        first = {f"before/f{i:02d}.bin": os.urandom(800 + i) for i in range(20)}
        write_files(inbox, first)
        wait_for(lambda: count_by_state(relay.store).get("succeeded", 0) >= 5, 30, 0.05)
        # when the store is unreachable for 10 s, from the next claim on, while 20 more land
        # (written once armed: their admission claims steps even if the first 20 were all
        # claimed already, as an ingest batch claims its files' first steps at once)
        armed.set()
        during = {f"during/f{i:02d}.bin": os.urandom(900 + i) for i in range(20)}
        write_files(inbox, during)
        wait_for(proxy.tapped.is_set, 10, 0.01, what="the store cut at a claim")
        cut_at = time.monotonic()
        time.sleep(max(0.0, 10 - (time.monotonic() - cut_at)))  # the outage itself
        proxy.restore()
        back_at = time.monotonic()
        # then everything resumes: each file once, every event succeeded
        wait_for(lambda: settled(relay, 40), 90, 0.2, what="40 succeeded, nothing in progress")
        took = time.monotonic() - back_at
        states = count_by_state(relay.store)
        deferred = (relay.root / "worker.log").read_text().count("task_deferred")
        print(
            f"store unreachable 10s: all 40 done {took:.1f}s after it came back; {deferred} "
            f"tasks deferred meanwhile; events {states}"
        )
        files = {**first, **during}
        assert_bucket(s3_client, bucket, files)
        assert_once_each(relay, list(files))
    finally:
        proxy.close()


def test_store_cut_between_a_step_success_and_its_advance_loses_nothing(
    pg_url, deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given a store that goes away right after a step's success is written, before the
    # pipeline is advanced (the worker's next statement locks the pipeline row); both are in
    # one transaction, so the success is never committed and the step stays claimed
    proxy = TcpProxy(urlsplit(pg_url).port or 5432, tap=trap(COMPLETE, LOCK_PIPELINE))
    try:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        routes = UPLOAD.format(bucket=bucket, attempts=5)
        text = pipeline(inbox, routes, endpoint=moto_endpoint)
        relay = deploy(text, broker_url, FILERELAY_DATABASE_URL=store_behind(proxy, pg_url))
        relay.db_url = pg_url
        start_reconciler(relay)
        start_worker(relay, "worker", 1)
        start_watcher(relay)
        (inbox / "one.bin").write_bytes(b"one file")
        # when the store is unreachable for 3 s from that point
        wait_for(proxy.tapped.is_set, 30, 0.01, what="the store cut before advance")
        time.sleep(3)  # the outage itself
        proxy.restore()
        # then the pipeline still finishes: once the step's lease expires the reconciler
        # sends it again, and the upload finds its object already there
        wait_states(relay, {"succeeded": 1}, 60)
        step = upload_step(relay, "one.bin")
        assert (step.status, step.attempts) == ("succeeded", 2)
        assert_bucket(s3_client, bucket, {"one.bin": b"one file"})
    finally:
        proxy.close()
