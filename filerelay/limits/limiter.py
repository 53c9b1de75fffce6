"""One worker process's limiter: the buckets and the breakers it shares with the fleet.

Built once per runtime (:func:`build_limiter`): Redis buckets when the broker is Redis, store
buckets otherwise; breakers always in the store. The clock and the sleep are injected, so the
state machine is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from filerelay.limits.buckets import RedisBuckets, StoreBuckets, TokenBuckets
from filerelay.limits.spec import DestinationLimits
from filerelay.settings import Settings
from filerelay.store.db import utcnow
from filerelay.store.limits import LimitStore

#: A step sleeps for a token at most this long in all; a longer wait defers it.
MAX_SLEEP_S = 2.0


@dataclass
class TokenWait:
    """How taking a token went: ``waited_s`` slept for it; ``defer_s`` > 0: none was there
    within :data:`MAX_SLEEP_S`, wait that long more (the step is deferred)."""

    waited_s: float = 0.0
    defer_s: float = 0.0


@dataclass
class Limiter:
    """Takes tokens and asks breakers for one process."""

    store: LimitStore
    buckets: TokenBuckets
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    max_sleep_s: float = MAX_SLEEP_S
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def wait_for_token(self, limits: DestinationLimits) -> TokenWait:
        """Take a token of ``limits.key``, sleeping for it up to :attr:`max_sleep_s`."""
        assert limits.rate_per_s is not None
        out = TokenWait()
        while True:
            wait = self.buckets.take(limits.key, limits.rate_per_s, limits.capacity)
            if wait <= 0:
                return out
            if out.waited_s + wait > self.max_sleep_s:
                out.defer_s = wait
                return out
            self.sleep(wait)
            out.waited_s += wait

    def close(self) -> None:
        for close in self._closers:
            close()


def build_limiter(settings: Settings, engine: Engine) -> Limiter:
    """The limiter of a worker process: Redis buckets when the broker is Redis."""
    store = LimitStore(engine)
    broker = settings.broker_url or ""
    if broker.startswith(("redis://", "rediss://")):
        redis_buckets = RedisBuckets(broker)
        return Limiter(store, redis_buckets, _closers=[redis_buckets.close])
    return Limiter(store, StoreBuckets(store))
