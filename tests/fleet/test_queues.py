"""The host queues on a real broker: the watcher's ingests go to its host's queue (a shared
source's to the shared queue), stamped with its agent id; steps to the queue their message
names; RabbitMQ queues are declared as quorum queues."""

from __future__ import annotations

import base64
import json

import redis

from filerelay.pipeline.messages import StepMessage
from filerelay.settings import load_settings
from filerelay.tasks import make_celery
from filerelay.tasks.publisher import CeleryPublisher, send_step
from tests.factories import file_event


def _decode(raw: bytes | str) -> str:
    """The task arguments of a Celery message as kombu keeps it in a Redis list."""
    return base64.b64decode(json.loads(raw)["body"]).decode()


def test_ingests_and_steps_go_to_their_host_queue(tmp_path, redis_url) -> None:
    # given a watcher publisher of host-a with one shared source
    app = make_celery(load_settings(broker_url=redis_url, state_dir=tmp_path))
    publish = CeleryPublisher(app, "q", agent="host-a", shared_sources=frozenset({"nfs"}))
    client = redis.Redis.from_url(redis_url)
    # when it publishes a local and a shared source's event
    publish([file_event("a", source="local"), file_event("b", source="nfs", inode=2)])
    # then the local one waits in host-a's queue, stamped host-a; the shared one is shared
    (body,) = client.lrange("q.host.host-a", 0, -1)
    message = json.loads(_decode(body))
    assert message[0][0]["agent"] == "host-a"
    assert client.llen("q") == 1
    # when steps are sent: one bound to host-b, one to no host
    send_step(app, StepMessage(1, "e", "local", "a", 10.0, agent="host-b"), "q")
    send_step(app, StepMessage(2, "e", "local", "a", 10.0), "q")
    assert client.llen("q.host.host-b") == 1 and client.llen("q") == 2
    client.close()


def test_amqp_queues_are_quorum_queues(tmp_path) -> None:
    # given an amqp broker URL / when the app makes filerelay's queues
    settings = load_settings(broker_url="amqp://guest:guest@127.0.0.1:5672//", state_dir=tmp_path)
    app = make_celery(settings)
    # then the shared queue and any host queue are declared quorum (replicated)
    assert app.amqp.queues["filerelay"].queue_arguments == {"x-queue-type": "quorum"}
    host = app.amqp.queues.new_missing("filerelay.host.h")
    assert host.queue_arguments == {"x-queue-type": "quorum"}
    # behind topic exchanges, so a retry's countdown waits in RabbitMQ, not in a worker
    assert host.exchange.type == app.amqp.queues["filerelay"].exchange.type == "topic"
    # and a deployment that keeps classic queues can say so
    classic = load_settings(
        broker_url="amqp://127.0.0.1//", state_dir=tmp_path, amqp_queue_type="classic"
    )
    assert make_celery(classic).amqp.queues.new_missing("x").queue_arguments is None
