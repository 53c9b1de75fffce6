"""Chaos on the broker: a Redis the test owns is SIGKILLed under load and restarted on the same
port — with its AOF (queues kept) or empty — or stays down while files arrive."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from sqlalchemy import text

from tests.chaos.helpers import (
    assert_bucket,
    assert_once_each,
    outbox_depth,
    pipeline,
    settled,
    start_reconciler,
    start_watcher,
    start_worker,
    watcher_sent,
    write_files,
)
from tests.conftest import wait_for
from tests.store.store_helpers import count_by_state

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

UPLOAD_THEN_HOOK = """\
routes:
  - name: ship
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
      - webhook: {{url: "{url}/hook"}}
defaults: {{timeout: 5s, retry: {{max_attempts: 8, backoff: 3s, max_backoff: 4s}}}}
"""
UPLOAD = """\
routes:
  - name: ship
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
defaults: {{timeout: 5s}}
"""


def flaky_once(key: str, n: int) -> int:
    """One key in three gets a 500 on its first request: retries are pending at the kill."""
    return 500 if n == 0 and int(hashlib.sha256(key.encode()).hexdigest(), 16) % 3 == 0 else 200


def retries_pending(relay) -> int:
    """Steps waiting for their next attempt after a failed one."""
    query = "SELECT COUNT(*) FROM steps WHERE status = 'pending' AND attempts > 0"
    with relay.store.engine.connect() as conn:
        return int(conn.execute(text(query)).scalar_one())


@pytest.mark.parametrize(
    "appendonly",
    [
        pytest.param(True, id="aof"),
        pytest.param(False, id="empty"),
    ],
)
def test_redis_sigkilled_under_load_and_restarted(
    appendonly, deploy, tmp_path, own_redis, moto_endpoint, s3_client, bucket, receiver_factory
):
    # given two workers, a reconciler and a watcher on a Redis this test owns
    server = own_redis(appendonly)
    receiver = receiver_factory(flaky_once)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    routes = UPLOAD_THEN_HOOK.format(bucket=bucket, url=receiver.url)
    relay = deploy(pipeline(inbox, routes, endpoint=moto_endpoint), server.url())
    start_reconciler(relay)
    start_worker(relay, "worker-a", 2)
    start_worker(relay, "worker-b", 2)
    start_watcher(relay)
    # when 200 files are in flight — retries pending, the last 50 ingest messages published
    # behind the steps of the first 150 — and Redis is SIGKILLed and restarted
    files = {f"d{i % 4}/f{i:03d}.bin": os.urandom(500 + i) for i in range(200)}
    first, last = dict(list(files.items())[:150]), dict(list(files.items())[150:])
    write_files(inbox, first)
    wait_for(lambda: count_by_state(relay.store).get("succeeded", 0) >= 20, 60, 0.05)
    wait_for(lambda: any(500 in v for v in receiver.statuses().values()), 30, 0.05)
    write_files(inbox, last)
    wait_for(lambda: watcher_sent(relay) == 200, 30, 0.02, what="all 200 events published")
    server.kill()
    at_kill, retrying = count_by_state(relay.store), retries_pending(relay)
    server.start()
    restarted = time.monotonic()
    # then every file ends succeeded, once, with one effect per idempotency key
    wait_for(lambda: settled(relay, 200), 120, 0.2, what="200 succeeded, nothing in progress")
    took = time.monotonic() - restarted
    kind = "with AOF" if appendonly else "empty"
    audited = (relay.root / "reconciler.log").read_text().count("audit_unrecorded_file")
    print(
        f"redis SIGKILL, restarted {kind}: at the kill events {at_kill}, {retrying} retries "
        f"pending; ingested again by the disk audit {audited}; all done {took:.1f}s after the "
        f"restart; events {count_by_state(relay.store)}"
    )
    assert retrying > 0
    assert_bucket(s3_client, bucket, files)
    assert_once_each(relay, list(files))
    successes = receiver.successes()
    assert len(successes) == 200 and set(successes.values()) == {1}, successes


def test_redis_down_for_20s_the_watcher_outbox_holds_and_flushes(
    deploy, tmp_path, own_redis, moto_endpoint, s3_client, bucket
):
    # given a deployment on a Redis this test owns
    server = own_redis(False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    relay = deploy(
        pipeline(inbox, UPLOAD.format(bucket=bucket), endpoint=moto_endpoint), server.url()
    )
    start_reconciler(relay)
    start_worker(relay, "worker", 2)
    start_watcher(relay)
    # when Redis is down for 20 s while 100 files are dropped
    server.kill()
    down_at = time.monotonic()
    files = {f"f{i:03d}.txt": f"file {i}\n".encode() * (i + 1) for i in range(100)}
    write_files(inbox, files)
    wait_for(lambda: outbox_depth(relay) == 100, 30, 0.1, what="100 events held in the outbox")
    assert count_by_state(relay.store) == {}
    time.sleep(max(0.0, 20 - (time.monotonic() - down_at)))  # the outage itself
    server.start()
    back_at = time.monotonic()
    # then the outbox flushes and every file arrives once
    wait_for(lambda: outbox_depth(relay) == 0, 30, 0.1, what="outbox flushed")
    flushed_s = time.monotonic() - back_at
    wait_for(lambda: settled(relay, 100), 90, 0.2, what="100 succeeded, nothing in progress")
    done_s = time.monotonic() - back_at
    states = count_by_state(relay.store)
    print(
        f"redis down 20s: outbox flushed {flushed_s:.1f}s after restart, all done {done_s:.1f}s; "
        f"events {states}"
    )
    assert_bucket(s3_client, bucket, files)
    assert_once_each(relay, list(files))  # the disk audit may have ingested some first
