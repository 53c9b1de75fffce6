"""The queue-depth history: the reconciler's sampler records each queue's depth on a real
Redis broker once a minute, and ``GET queues/depth`` serves the trend over a window."""

from __future__ import annotations

import time
import uuid

from filerelay.ops import queue_depth
from filerelay.ops.queue_depth import QueueDepthSampler, build_sampler, epoch_minute
from filerelay.settings import load_settings
from filerelay.store.queue_depths import QueueDepthStore
from filerelay.tasks import make_celery
from tests.api.conftest import Api


class Clock:
    """A settable epoch clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_sampler_records_the_broker_queues_once_a_minute(api: Api, redis_url: str) -> None:
    # given a Redis broker whose queue holds 3 messages nobody consumes
    queue = f"depth-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        state_dir=api.root / "state", broker_url=redis_url, queue=queue, config=None
    )
    app = make_celery(settings)
    for _ in range(3):
        app.send_task("filerelay.nothing", queue=queue)
    sampler = build_sampler(settings, api.dep.store, app)
    clock = Clock(time.time() - 120)
    sampler.clock = clock
    # when it ticks twice within a minute, then in the next minute after 2 more messages
    assert sampler.tick() is True
    assert sampler.tick() is False
    for _ in range(2):
        app.send_task("filerelay.nothing", queue=queue)
    clock.now += 60
    assert sampler.tick() is True
    # then the API's 1h trend has the two minutes with their depths
    with api.client("viewer") as client:
        body = client.get("/api/v1/queues/depth", params={"window": "1h"}).json()
    assert body["window"] == "1h" and body["bucket_s"] == 60
    mine = [(p["t"], p["by_queue"][queue]) for p in body["points"] if queue in p["by_queue"]]
    assert [depth for _, depth in mine] == [3, 5]
    assert queue in body["queues"]
    app.close()


def test_buckets_keep_the_deepest_and_old_samples_are_pruned(api: Api) -> None:
    # given samples of two queues every minute of the last two hours
    store = QueueDepthStore(api.dep.store.engine)
    now = time.time()
    q1, q2 = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    start = epoch_minute(now) - 120
    for i in range(121):
        store.record(start + i, {q1: i, q2: 1000 if i == 100 else 1})
    # when the 24h trend is read (5-minute buckets)
    found = queue_depth.history(store, "24h", now)
    mine = [b for b in found.buckets if q1 in b.by_queue]
    # then each bucket keeps each queue's deepest, at most 288 buckets
    assert found.bucket_s == 300 and len(found.buckets) <= 288
    assert max(b.by_queue[q2] for b in mine) == 1000
    assert mine[-1].by_queue[q1] == 120
    assert all(b.by_queue[q1] == min(b.minute + 4, start + 120) - start for b in mine)
    # and a sampler whose retention is one hour deletes what is older, once an hour
    sampler = QueueDepthSampler(store, lambda: {q1: 7}, 3600, Clock(now))
    sampler.tick()
    left = [b for b in store.buckets(start - 10, 1) if q1 in b.by_queue]
    assert min(b.minute for b in left) == start + 60 and left[-1].by_queue[q1] == 7
