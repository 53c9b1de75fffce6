"""Token buckets held by all workers together: in Redis (one atomic Lua script) when the
broker is Redis, else in the store (:meth:`~filerelay.store.limits.LimitStore.take_token`).

A bucket refills at the rate continuously and holds at most ``capacity`` tokens; taking a
token either succeeds (0.0) or tells how long until one is there. Redis computes with its own
clock (``TIME``), so workers on hosts whose clocks differ share one timeline; the store's
bucket uses each worker's clock (keep hosts on NTP).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from filerelay.errors import StoreError
from filerelay.store.limits import LimitStore

KEY_PREFIX = "filerelay:bucket:"

# KEYS[1] bucket; ARGV: rate per second, capacity. Returns "0" when a token was taken, else
# the seconds until one is there (as a string: Lua numbers become integers in replies).
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  stamp = now
end
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local ttl = math.ceil(capacity / rate) + 60
if tokens < 1 then
  return tostring((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'stamp', tostring(math.max(now, stamp)))
redis.call('EXPIRE', KEYS[1], ttl)
return "0"
"""


class TokenBuckets(Protocol):
    """Takes tokens from named buckets."""

    def take(self, key: str, rate_per_s: float, capacity: float) -> float:
        """0.0 when a token was taken, else the seconds until one is there."""


class StoreBuckets:
    """Buckets as rows of the store (the embedded default, or a RabbitMQ broker)."""

    def __init__(self, store: LimitStore) -> None:
        self.store = store

    def take(self, key: str, rate_per_s: float, capacity: float) -> float:
        return self.store.take_token(key, rate_per_s, capacity, time.time())


class RedisBuckets:
    """Buckets as Redis hashes, each take one ``EVALSHA`` of :data:`TAKE_SCRIPT`."""

    def __init__(self, url: str) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self.client.register_script(TAKE_SCRIPT)

    def take(self, key: str, rate_per_s: float, capacity: float) -> float:
        import redis

        try:
            answer = self._script(keys=[KEY_PREFIX + key], args=[rate_per_s, capacity])
        except redis.RedisError as exc:  # the step is retried later, like a store outage
            raise StoreError(f"rate limit bucket {key!r}: {exc}") from exc
        return float(answer)

    def close(self) -> None:
        self.client.close()
