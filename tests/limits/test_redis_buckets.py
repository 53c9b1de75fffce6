"""The Redis token bucket (one Lua script): capacity, refill and no token given twice."""

from __future__ import annotations

import threading

from filerelay.limits.buckets import RedisBuckets
from tests.conftest import wait_for


def test_bucket_gives_its_capacity_then_asks_to_wait(redis_url: str) -> None:
    # given a bucket of 4 tokens/s holding at most 2
    buckets = RedisBuckets(redis_url)
    try:
        # when three tokens are taken at once
        waits = [buckets.take("hook", 4.0, 2.0) for _ in range(3)]
        # then two were there and the third is about a quarter second away
        assert waits[:2] == [0.0, 0.0]
        assert 0.0 < waits[2] <= 0.25
        # and once that time passed a token is there again
        wait_for(lambda: buckets.take("hook", 4.0, 2.0) == 0.0, timeout_s=2, what="a refill")
    finally:
        buckets.close()


def test_threads_of_two_clients_share_one_bucket(redis_url: str) -> None:
    # given two clients (two workers) on one slow bucket holding 3 tokens
    clients = [RedisBuckets(redis_url), RedisBuckets(redis_url)]
    taken: list[float] = []

    def take(client: RedisBuckets) -> None:
        for _ in range(5):
            taken.append(client.take("shared", 0.001, 3.0))

    threads = [threading.Thread(target=take, args=(c,)) for c in clients * 2]
    # when four threads take five times each
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly three tokens were given out
    assert sum(1 for w in taken if w == 0.0) == 3
    for client in clients:
        client.close()
