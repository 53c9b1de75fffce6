"""End to end on real parts: watcher process -> Redis -> celery worker process -> moto S3 server.

Each test: its own Redis database, bucket, temp dirs, SQLite store; processes stopped by pid.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.e2e.harness import Relay, running
from tests.store.store_helpers import count_by_state, events_by_relpath

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
    silence: 500ms
    exclude: ["*.skip", "private/**"]
routes:
  - name: upload
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{source}}/{{relpath}}",
              multipart_threshold: 16MiB, part_size: 8MiB}}
"""


@pytest.fixture
def relay(tmp_path, redis_url, moto_endpoint, bucket) -> Iterator[Relay]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = CONFIG.format(endpoint=moto_endpoint, inbox=inbox, bucket=bucket)
    relay = Relay(tmp_path, text, broker_url=redis_url)
    relay.inbox = inbox  # type: ignore[attr-defined]
    relay.bucket = bucket  # type: ignore[attr-defined]
    with running(relay):
        yield relay


def objects(s3_client, bucket: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out


def body(s3_client, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def wait_objects(s3_client, bucket: str, keys: set[str], timeout_s: float = 120) -> dict[str, int]:
    def arrived() -> dict[str, int] | None:
        have = objects(s3_client, bucket)
        return have if keys <= set(have) else None

    return wait_for(arrived, timeout_s, 0.25, what=f"{len(keys)} objects")


def drop(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_200_files_dropped_at_once_all_arrive_with_right_bytes(relay, s3_client):
    # given a running watcher and worker
    relay.start_worker()
    relay.start_watcher()
    # when 200 files land at once in 10 directories
    files = {f"d{i % 10}/f{i:03d}.bin": os.urandom(1000 + i) for i in range(200)}
    for rel, data in files.items():
        drop(relay.inbox / rel, data)
    # then every file is in the bucket under its key, with its bytes
    wait_objects(s3_client, relay.bucket, {f"drop/{rel}" for rel in files})
    for rel, data in files.items():
        assert body(s3_client, relay.bucket, f"drop/{rel}") == data
    wait_for(lambda: count_by_state(relay.store).get("succeeded") == 200, 60, what="200 succeeded")


def test_slow_writer_is_uploaded_once_whole(relay, s3_client):
    relay.start_worker()
    relay.start_watcher()
    # a writer keeps the file open and appends chunks, pausing longer than the silence window
    chunks = [os.urandom(64 * 1024) for _ in range(6)]
    with (relay.inbox / "slow.dat").open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            fh.flush()
            time.sleep(0.7)
    wait_objects(s3_client, relay.bucket, {"drop/slow.dat"})
    assert body(s3_client, relay.bucket, "drop/slow.dat") == b"".join(chunks)
    events = events_by_relpath(relay.store, "drop", "slow.dat")
    assert [e.state for e in events] == ["succeeded"], events


def test_part_file_renamed_is_uploaded_once_under_its_final_name(relay, s3_client):
    relay.start_worker(via_celery=True)  # the same tasks under `celery -A filerelay.tasks`
    relay.start_watcher()
    data = os.urandom(50_000)
    (relay.inbox / "x.part").write_bytes(data)
    os.rename(relay.inbox / "x.part", relay.inbox / "x.csv")
    wait_objects(s3_client, relay.bucket, {"drop/x.csv"})
    assert body(s3_client, relay.bucket, "drop/x.csv") == data
    assert set(objects(s3_client, relay.bucket)) == {"drop/x.csv"}


def test_files_in_a_directory_created_during_the_run_arrive(relay, s3_client):
    relay.start_worker()
    relay.start_watcher()
    deep = relay.inbox / "new" / "deeper" / "deepest"
    deep.mkdir(parents=True)
    for i in range(20):
        drop(deep / f"f{i}.txt", f"file {i}".encode())
    wait_objects(s3_client, relay.bucket, {f"drop/new/deeper/deepest/f{i}.txt" for i in range(20)})


def test_files_present_before_start_are_uploaded_by_the_reconcile_walk(relay, s3_client):
    old = {f"old/{i}.txt": f"old {i}".encode() for i in range(15)}
    for rel, data in old.items():
        drop(relay.inbox / rel, data)
    relay.start_worker()
    relay.start_watcher()
    wait_objects(s3_client, relay.bucket, {f"drop/{rel}" for rel in old})


def test_excluded_and_temp_files_are_not_uploaded(relay, s3_client):
    relay.start_worker()
    relay.start_watcher()
    ignored = [
        "a.skip",
        "private/p.txt",
        "b.tmp",
        "c.partial",
        "d.crdownload",
        ".hidden",
        "e.txt~",
        ".e.txt.swp",
        ".~lock.f.odt#",
    ]
    for rel in ignored:
        drop(relay.inbox / rel, b"ignore me")
    drop(relay.inbox / "barrier.txt", b"taken")
    wait_objects(s3_client, relay.bucket, {"drop/barrier.txt"})
    # the barrier was written last and has arrived; give stragglers one more silence window
    time.sleep(1.5)
    assert set(objects(s3_client, relay.bucket)) == {"drop/barrier.txt"}


def test_64mib_file_goes_up_multipart_with_matching_bytes(relay, s3_client):
    relay.start_worker()
    relay.start_watcher()
    data = os.urandom(64 * 2**20)
    drop(relay.inbox / "big.bin", data)
    wait_objects(s3_client, relay.bucket, {"drop/big.bin"}, timeout_s=180)
    head = s3_client.head_object(Bucket=relay.bucket, Key="drop/big.bin")
    assert head["ETag"].strip('"').endswith("-8")  # 64 MiB / 8 MiB parts
    got = body(s3_client, relay.bucket, "drop/big.bin")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    # hashed as it was sent: the SHA-256 is in the step result, the part size on the object
    assert head["Metadata"]["part-size"] == str(8 * 2**20)
    [event] = events_by_relpath(relay.store, "drop", "big.bin")
    [pipe] = relay.store.pipelines_of(event.id)
    [step] = relay.store.steps_of(pipe.id)
    assert step.result["sha256"] == hashlib.sha256(data).hexdigest()


def test_restarting_the_watcher_does_not_upload_again(relay, s3_client):
    relay.start_worker()
    watcher = relay.start_watcher()
    for i in range(10):
        drop(relay.inbox / f"f{i}.txt", f"{i}".encode())
    first = wait_objects(s3_client, relay.bucket, {f"drop/f{i}.txt" for i in range(10)})
    wait_for(lambda: count_by_state(relay.store).get("succeeded") == 10, 60, what="10 done")
    # when the watcher restarts and one new file arrives
    watcher.stop()
    relay.start_watcher()
    drop(relay.inbox / "after.txt", b"after restart")
    wait_objects(s3_client, relay.bucket, {"drop/after.txt"})
    wait_for(lambda: count_by_state(relay.store).get("succeeded") == 11, 60, what="11 done")
    # then no old file was emitted again: one event row each, no duplicates recorded
    assert count_by_state(relay.store) == {"succeeded": 11}
    assert set(objects(s3_client, relay.bucket)) == {*first, "drop/after.txt"}
