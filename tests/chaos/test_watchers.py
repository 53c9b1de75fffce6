"""Chaos on watchers: one SIGKILLed while files are being written, two watching one tree (an
HA pair), and a burst of 5,000 files under back pressure. Real processes throughout."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.chaos.helpers import (
    assert_bucket,
    assert_once_each,
    kill,
    pipeline,
    restart,
    rss_mb,
    settled,
    start_reconciler,
    start_watcher,
    start_worker,
    wait_states,
    write_files,
)
from tests.conftest import wait_for
from tests.store.store_helpers import count_by_state, events_by_relpath

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

UPLOAD = """\
routes:
  - name: ship
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
defaults: {{timeout: 5s}}
"""


def slow_writer(folder, files: dict[str, bytes], written: list[str]) -> threading.Thread:
    """Write each file in three chunks, 20 ms apart, one after the other."""

    def write() -> None:
        for rel, data in files.items():
            third = len(data) // 3 + 1
            with (folder / rel).open("wb") as fh:
                for i in range(3):
                    fh.write(data[i * third : (i + 1) * third])
                    fh.flush()
                    time.sleep(0.02)
            written.append(rel)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_watcher_sigkilled_while_files_are_written_then_restarted(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given a watcher and a worker
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    relay = deploy(
        pipeline(inbox, UPLOAD.format(bucket=bucket), endpoint=moto_endpoint), broker_url
    )
    start_reconciler(relay)
    start_worker(relay, "worker", 2)
    watcher = start_watcher(relay)
    # when the watcher is SIGKILLed while 50 files are being written, and started again
    files = {f"f{i:02d}.bin": os.urandom(3000 + i) for i in range(50)}
    written: list[str] = []
    writer = slow_writer(inbox, files, written)
    wait_for(lambda: len(written) >= 15, 30, 0.01, what="15 files written")
    kill(watcher)
    killed_at = time.monotonic()
    wait_for(lambda: len(written) >= 25, 30, 0.01, what="10 more files written, unwatched")
    restart(watcher, "watcher_ready")
    writer.join(30)
    # then all 50 arrive, once, whole
    wait_for(lambda: settled(relay, 50), 60, 0.2, what="50 succeeded")
    took = time.monotonic() - killed_at
    print(f"watcher SIGKILL mid-write: all 50 done {took:.1f}s after the kill")
    assert_bucket(s3_client, bucket, files)
    assert_once_each(relay, list(files))


def test_two_watchers_on_one_tree_run_each_file_once(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given an HA pair: two watchers on one directory, each with its own state dir
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    relay = deploy(
        pipeline(inbox, UPLOAD.format(bucket=bucket), endpoint=moto_endpoint), broker_url
    )
    start_worker(relay, "worker-a", 2)
    start_watcher(relay, "watcher-a", tmp_path / "state-a")
    start_watcher(relay, "watcher-b", tmp_path / "state-b")
    # when 200 files land
    files = {f"d{i % 5}/f{i:03d}.txt": f"file {i} ".encode() * (i + 1) for i in range(200)}
    write_files(inbox, files)
    # then 200 objects and 200 succeeded events; the second detections are duplicates
    wait_for(lambda: settled(relay, 200), 90, 0.2, what="200 succeeded")
    wait_for(lambda: count_by_state(relay.store).get("duplicate", 0) == 200, 30, 0.2)
    print(f"HA pair, 200 files: events {count_by_state(relay.store)}")
    assert_bucket(s3_client, bucket, files)
    assert_once_each(relay, list(files))


SOME_COPIED = """\
routes:
  - name: keep
    when: {{glob: "d0/**"}}
    steps:
      - copy: {{to: "{out}/{{relpath}}", fsync: false}}
"""


def test_burst_of_5000_files_under_back_pressure_keeps_the_watcher_small(
    deploy, tmp_path, broker_url
):
    # given a watcher holding events in its outbox while 100 messages are queued, and a route
    # copying one file in ten (the others are recorded, and skipped: no route matches them)
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    text = pipeline(inbox, SOME_COPIED.format(out=out))
    relay = deploy(text, broker_url, FILERELAY_MAX_BACKLOG="100")
    start_worker(relay, "worker-a", 2)
    start_worker(relay, "worker-b", 2)
    watcher = start_watcher(relay)
    assert watcher.proc is not None
    peak = [rss_mb(watcher.proc.pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak.append(rss_mb(watcher.proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # when 5,000 small files land in a burst
    started = time.monotonic()
    files = {f"d{i % 10}/f{i:04d}.txt": f"{i}\n".encode() for i in range(5000)}
    write_files(inbox, files)
    expected = {"succeeded": 500, "skipped": 4500}
    try:
        # then every file reaches the store, and the watcher's memory stays bounded
        wait_states(relay, expected, 240)
    finally:
        done.set()
        sampler.join(5)
    took = time.monotonic() - started
    print(f"5000-file burst: all recorded in {took:.1f}s; watcher VmRSS peak {max(peak):.0f} MiB")
    assert max(peak) < 300
    copied = {rel: data for rel, data in files.items() if rel.startswith("d0/")}
    assert sorted(p.name for p in (out / "d0").iterdir()) == sorted(r[3:] for r in copied)
    for rel, data in copied.items():
        assert (out / rel).read_bytes() == data, rel
    for rel in list(files)[::97]:
        [event] = events_by_relpath(relay.store, "drop", rel)
        assert event.state == ("succeeded" if rel.startswith("d0/") else "skipped"), rel
