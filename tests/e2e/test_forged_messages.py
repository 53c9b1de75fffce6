"""Forged `filerelay.ingest` messages, published straight to the real broker: the worker derives
the file's path from its own config and refuses anything else (recorded, logged, nothing
uploaded); with FILERELAY_MESSAGE_KEY set, it runs only messages signed with that key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from celery import Celery

from filerelay.model import new_event_id
from filerelay.settings import load_settings
from filerelay.tasks import make_celery
from filerelay.tasks.names import INGEST
from tests.conftest import wait_for
from tests.e2e.harness import Relay
from tests.e2e.test_core_pipeline import CONFIG, objects
from tests.factories import event_of_file
from tests.store.store_helpers import listed

pytestmark = pytest.mark.slow


@pytest.fixture
def relay(tmp_path, redis_url, moto_endpoint, bucket):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = CONFIG.format(endpoint=moto_endpoint, inbox=inbox, bucket=bucket)
    made: list[Relay] = []

    def make(**env: str) -> Relay:
        relay = Relay(tmp_path, text, broker_url=redis_url, extra_env=env)
        made.append(relay)
        relay.start_worker(1)
        return relay

    try:
        yield make
    except BaseException:
        for relay in made:
            print(relay.logs())
        raise
    finally:
        for relay in made:
            relay.stop()


def send(app: Celery, message: dict) -> None:
    app.send_task(INGEST, args=[message], queue="filerelay")


def test_forged_ingests_are_refused_and_nothing_is_uploaded(
    relay, tmp_path, redis_url, s3_client, bucket
):
    # given a worker, a file outside its source, and a symlink into the source pointing to it
    r = relay()
    inbox: Path = tmp_path / "inbox"
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not yours")
    (inbox / "link.txt").symlink_to(secret)
    (inbox / "ok.txt").write_bytes(b"fine")
    real = event_of_file(inbox / "ok.txt", inbox, source="drop")
    outside = event_of_file(secret, tmp_path, source="drop")
    forged = {
        name: event.model_copy(update={"event_id": new_event_id()})
        for name, event in {
            "path not root/relpath": outside.model_copy(update={"relpath": "ok.txt"}),
            "dotdot relpath": outside.model_copy(
                update={"relpath": "../secret.txt", "path": f"{inbox}/../secret.txt"}
            ),
            "absolute relpath": outside.model_copy(update={"relpath": str(secret)}),
            "symlink out of the root": event_of_file(inbox / "link.txt", inbox, source="drop"),
            "unknown source": outside.model_copy(update={"source": "elsewhere"}),
        }.items()
    }
    app = make_celery(load_settings(broker_url=redis_url))
    # when each is published to the broker as an ingest, then one honest message
    for event in forged.values():
        send(app, event.to_message())
    send(app, real.to_message())
    # then only the honest file is uploaded; each forgery is recorded failed and logged
    wait_for(lambda: len(listed(r.store)) == 6, 60, what="six events recorded")
    wait_for(lambda: objects(s3_client, bucket) == {"drop/ok.txt": 4}, 30, what="ok.txt")
    refused = {e.id: e for e in listed(r.store) if e.id != real.event_id}
    for name, event in forged.items():
        row = refused[event.event_id]
        assert (row.state, row.reason.split(":")[0]) == ("failed", "refused"), name
    assert (r.root / "worker.log").read_text().count("ingest_refused") == 5
    assert objects(s3_client, bucket) == {"drop/ok.txt": 4}


def test_with_a_message_key_only_signed_messages_run(relay, tmp_path, redis_url, s3_client, bucket):
    # given a worker with a message key
    key_file = tmp_path / "message.key"
    key_file.write_text(os.urandom(16).hex() + "\n")
    r = relay(FILERELAY_MESSAGE_KEY_FILE=str(key_file))
    inbox: Path = tmp_path / "inbox"
    (inbox / "a.txt").write_bytes(b"unsigned")
    (inbox / "b.txt").write_bytes(b"bad key")
    (inbox / "c.txt").write_bytes(b"signed")
    # when one ingest is sent unsigned, one signed with another key, one signed with the key
    send(make_celery(load_settings(broker_url=redis_url)), msg(inbox / "a.txt"))
    wrong = load_settings(broker_url=redis_url, message_key="not-the-key")
    send(make_celery(wrong), msg(inbox / "b.txt"))
    right = load_settings(broker_url=redis_url, message_key=key_file.read_text())
    send(make_celery(right), msg(inbox / "c.txt"))
    # then only the signed one ran; the others were refused before anything, and logged
    wait_for(lambda: objects(s3_client, bucket) == {"drop/c.txt": 6}, 60, what="c.txt")
    log = r.root / "worker.log"
    wait_for(lambda: log.read_text().count("message_refused") == 2, 30, what="two refusals")
    assert [e.relpath for e in listed(r.store)] == ["c.txt"]  # nothing else reached the store
    text = log.read_text()
    assert "reason=unsigned" in text and "reason='bad signature'" in text


def msg(path: Path) -> dict:
    return event_of_file(path, path.parent, source="drop").to_message()
