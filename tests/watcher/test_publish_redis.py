"""The watcher process's publishing on a real Redis: a burst arrives whole, in batches, and
the ingest messages send no task-sent events (nothing consumes them)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import redis

from filerelay.cli.common import check_config
from filerelay.cli.watch import build_watcher
from filerelay.fleet.identity import agent_id, host_queue
from filerelay.settings import load_settings
from filerelay.tasks import make_celery
from filerelay.tasks.names import INGEST, INGEST_BATCH
from tests.conftest import wait_for

FILES = 300
CONFIG = """\
sources:
  - {{name: drop, path: "{inbox}", silence: 100ms}}
routes:
  - name: keep
    steps: [{{copy: {{to: "{out}/{{relpath}}"}}}}]
"""


def test_a_burst_reaches_the_queue_whole_and_without_task_sent_events(tmp_path: Path, redis_url):
    # given 300 files in the inbox and a listener on Celery's event channels
    inbox = tmp_path / "inbox"
    for i in range(FILES):
        (inbox / f"d{i % 7}").mkdir(parents=True, exist_ok=True)
        (inbox / f"d{i % 7}" / f"f{i:03d}.csv").write_text(str(i))
    config = tmp_path / "pipeline.yaml"
    config.write_text(CONFIG.format(inbox=inbox, out=tmp_path / "out"))
    settings = load_settings(broker_url=redis_url, state_dir=tmp_path / "state", config=config)
    client = redis.Redis.from_url(redis_url)
    events = client.pubsub()
    # this database's event channels only (kombu prefixes them "/DB."): pub/sub is server-wide
    events.psubscribe(f"/{redis_url.rsplit('/', 1)[1]}.celeryev*")
    wait_for(lambda: events.get_message(timeout=0.1), 10, what="the psubscribe reply")

    # when the watcher of `filerelay watch` runs on it
    watcher = build_watcher(settings, check_config(settings))
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    queue = host_queue(settings.queue, agent_id(settings))  # the ingests run on this host
    try:
        wait_for(lambda: len(_queued(client, queue)) >= FILES, 60, what="every file queued")
    finally:
        stop.set()
        thread.join(30)

    # then every file is in exactly one ingest message (several per message in a burst:
    # filerelay.ingest_batch, whose argsrepr lists each of its files)
    bodies = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    assert {body["headers"]["task"] for body in bodies} <= {INGEST, INGEST_BATCH}
    paths = _queued(client, queue)
    assert len(paths) == FILES and len(set(paths)) == FILES
    # and no task-sent event went out for them: a task sent with events on afterwards is the
    # first one on the channel (Redis delivers in the order it executed the commands)
    sentinel = make_celery(settings)
    sentinel.send_task("sentinel", queue="sentinel")
    sent: list[dict[Any, Any]] = []
    wait_for(
        lambda: _collect(events, sent) and sent[-1].get("name") == "sentinel", 30, what="sentinel"
    )
    assert [event.get("name") for event in sent] == ["sentinel"]
    events.close()
    client.close()


def _collect(pubsub: redis.client.PubSub, into: list[dict]) -> bool:
    message = pubsub.get_message(timeout=0.1)
    if message is None or message["type"] != "pmessage":
        return bool(into)
    body = json.loads(message["data"])
    payload = json.loads(_decode(body))
    if payload.get("type") == "task-sent":
        into.append(payload)
    return bool(into)


def _decode(envelope: dict) -> str:
    import base64

    raw = envelope["body"]
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        raw = base64.b64decode(raw).decode()
    return str(raw)


def _queued(client: Any, queue: str) -> list[str]:
    """The path of every file the ingest messages in ``queue`` carry, as Flower shows them."""
    paths = []
    for raw in client.lrange(queue, 0, -1):
        label = json.loads(raw)["headers"]["argsrepr"]
        paths += [part.split(" path=")[1].rstrip(";") for part in label.split("; ")]
    return paths


def test_the_watcher_connects_to_the_broker_before_the_first_file(tmp_path: Path, redis_url):
    # given a config, an empty inbox, and the clients on this Redis database (the fixture's)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = tmp_path / "pipeline.yaml"
    config.write_text(CONFIG.format(inbox=inbox, out=tmp_path / "out"))
    settings = load_settings(broker_url=redis_url, state_dir=tmp_path / "state", config=config)
    client = redis.Redis.from_url(redis_url)
    me, db = client.client_id(), redis_url.rsplit("/", 1)[1]

    def others() -> set[str]:
        return {c["id"] for c in client.client_list() if c["db"] == db and int(c["id"]) != me}

    before = others()
    # when the watcher of `filerelay watch` is built, before it runs or sees a file
    build_watcher(settings, check_config(settings))
    # then its publisher has connected already: the first file does not wait for that
    wait_for(lambda: others() - before, 30, what="the publisher's broker connection")
    client.close()
