"""Back pressure: above max_backlog queued messages the watcher's publish holds events back."""

from __future__ import annotations

import json

import pytest
import redis

from filerelay.model import FileEvent
from filerelay.settings import load_settings
from filerelay.tasks import make_celery
from filerelay.tasks.publisher import BacklogFull, CeleryPublisher
from tests.factories import file_event


def events(n: int, start: int = 0) -> list[FileEvent]:
    return [
        file_event(str(i), source="s", root="/x", size=1, inode=i) for i in range(start, start + n)
    ]


def test_publish_is_held_back_while_the_queue_is_full(tmp_path, redis_url):
    app = make_celery(load_settings(broker_url=redis_url, state_dir=tmp_path))
    publish = CeleryPublisher(app, "filerelay", max_backlog=5)
    client = redis.Redis.from_url(redis_url)
    publish(events(3))
    publish(events(3, 3))  # 3 queued < 5: the whole batch goes (overshoot <= one batch)
    assert publish.queue_depth() == 6 == client.llen("filerelay")
    with pytest.raises(BacklogFull, match="holds 6 messages"):
        publish(events(1, 6))
    assert client.llen("filerelay") == 6
    client.delete("filerelay")  # the workers drained it
    publish(events(1, 6))
    assert client.llen("filerelay") == 1
    client.close()


def test_busy_workers_get_full_batches_and_idle_ones_a_spread(tmp_path, redis_url):
    # given a watcher's publisher sending up to 16 events per message to its queue
    from filerelay.tasks.publisher import LINGER_S

    app = make_celery(load_settings(broker_url=redis_url, state_dir=tmp_path))
    publish = CeleryPublisher(app, "filerelay", ingest_batch=16)
    client = redis.Redis.from_url(redis_url)
    try:
        # when the queue is empty (idle workers): no linger, 40 events spread over 4 messages
        assert publish.linger_s(3) == 0.0
        publish(events(40))
        assert client.llen("filerelay") == 4
        # when messages wait (busy workers): a linger for fewer than a full batch, none for a
        # full one, and 20 events as a full batch and the rest
        assert publish.linger_s(3) == LINGER_S and publish.linger_s(16) == 0.0
        publish(events(20, 40))
        assert client.llen("filerelay") == 6
        shown = [json.loads(raw)["headers"]["argsrepr"] for raw in client.lrange("filerelay", 0, 1)]
        assert sorted(int(text.split(" ", 1)[0]) for text in shown) == [4, 16]  # newest first
    finally:
        client.delete("filerelay")
        client.close()
