"""Ingest batches: with a backlog the watcher's publish puts several events in one message
(each listed for Flower), one event stays one ingest, and a worker ingests each file of a
batch with its own rows and its own time limit. Real Redis, real worker."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded

from filerelay.model import FileEvent
from filerelay.settings import load_settings
from filerelay.tasks import make_celery
from filerelay.tasks.batch import chunks, time_limit
from filerelay.tasks.names import INGEST, INGEST_BATCH
from filerelay.tasks.publisher import CeleryPublisher
from tests.conftest import wait_for
from tests.e2e.harness import Relay, running
from tests.factories import file_event


def events(n: int) -> list[FileEvent]:
    return [file_event(f"d/{i}.bin", source="s", root="/x", inode=i) for i in range(n)]


@pytest.mark.parametrize(
    ("count", "max_batch", "sizes"),
    [
        (1, 16, [1]),  # idle: one event, one ingest
        (3, 1, [1, 1, 1]),  # batching off
        (6, 16, [6]),  # a few: one message (a message costs more than a few more files)
        (20, 16, [8, 8, 4]),  # spread over the worker processes, at least 8 per message
        (40, 16, [10, 10, 10, 10]),
        (100, 16, [16] * 6 + [4]),  # a long backlog: full batches
    ],
)
def test_a_publish_is_cut_into_batches_of_at_most_the_setting(count, max_batch, sizes):
    # given a publish batch of `count` events, when it is cut
    cut = chunks(events(count), max_batch)
    # then the batches have these sizes, in order, every event once
    assert [len(chunk) for chunk in cut] == sizes
    assert [e.path for chunk in cut for e in chunk] == [f"/x/d/{i}.bin" for i in range(count)]


def test_a_batch_message_lists_its_files_and_a_single_event_stays_an_ingest(tmp_path, redis_url):
    # given a publisher that batches up to 16 events
    app = make_celery(load_settings(broker_url=redis_url, state_dir=tmp_path))
    publish = CeleryPublisher(app, "filerelay", inline_step_s=30.0, ingest_batch=16)
    client = redis.Redis.from_url(redis_url)
    # when a backlog of 40 events and then one event are published
    publish(events(40))
    publish(events(1))
    # then 4 batch messages and one plain ingest wait in the queue
    messages = [json.loads(raw) for raw in client.lrange("filerelay", 0, -1)]
    client.close()
    tasks = sorted(m["headers"]["task"] for m in messages)
    assert tasks == [INGEST] + [INGEST_BATCH] * 4
    batch = next(m for m in messages if m["headers"]["task"] == INGEST_BATCH)
    # and a batch shows Flower each file it carries, with a hard limit for all of them
    assert batch["headers"]["argsrepr"].startswith("10 files: event_id=")
    assert batch["headers"]["argsrepr"].count("path=/x/d/") == 10
    assert batch["headers"]["timelimit"] == [(10 + 1) * 30.0 + 20.0, None]


def test_an_events_time_limit_interrupts_it_and_is_disarmed_after():
    # given one event's share of a batch: 50 ms
    # when the event runs past it, then it is interrupted as by Celery's soft limit
    with pytest.raises(SoftTimeLimitExceeded), time_limit(0.05):
        time.sleep(5)
    # and an event that ends in time leaves no timer behind
    with time_limit(0.05):
        pass
    time.sleep(0.1)


def test_no_timer_is_armed_outside_the_main_thread():
    # given a thread (the threads pool), when an event runs there, then nothing is armed
    ended = threading.Event()

    def body() -> None:
        with time_limit(0.01):
            time.sleep(0.05)
        ended.set()

    worker = threading.Thread(target=body)
    worker.start()
    worker.join(5)
    assert ended.is_set()


CONFIG = """\
sources:
  - {{name: drop, path: "{inbox}", silence: 200ms}}
routes:
  - name: copy
    steps:
      - copy: {{to: "{out}/{{relpath}}"}}
"""


@pytest.mark.slow
def test_a_burst_goes_in_batches_and_every_file_keeps_its_own_rows(tmp_path, redis_url):
    # given a watcher and a worker on Redis
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    relay = Relay(tmp_path, CONFIG.format(inbox=inbox, out=out), broker_url=redis_url)
    with running(relay):
        relay.start_worker(2)
        relay.start_watcher()
        # when 200 files appear at once
        for i in range(200):
            (inbox / f"{i}.txt").write_bytes(b"x" * i)
        # then every file is copied, and each has its own succeeded event and step
        wait_for(lambda: count(tmp_path, "file_events", "succeeded") == 200, 120, what="200 events")
        assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.txt" for i in range(200))
        assert count(tmp_path, "steps", "succeeded") == 200

        # and the worker ran them in batches (a batch's lines say how many files it carries)
        # (a file's line is logged after its outcome commits: wait for the last ones)
        def finished_lines() -> list[str]:
            lines = (tmp_path / "worker.log").read_text().splitlines()
            return [line for line in lines if "event_finished" in line]

        wait_for(lambda: len(finished_lines()) == 200, 30, what="200 event_finished lines")
        finished = finished_lines()
        assert sum(" files=" in line for line in finished) > 100


def count(root: Path, table: str, status: str) -> int:
    column = "state" if table == "file_events" else "status"
    with closing(sqlite3.connect(root / "store.db")) as conn:
        query = f"SELECT count(*) FROM {table} WHERE {column} = ?"
        return int(conn.execute(query, (status,)).fetchone()[0])
