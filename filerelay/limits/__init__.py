"""Fleet-wide limits of destinations: rate limits (token buckets) and circuit breakers.

- :mod:`~filerelay.limits.spec` — which limits hold for a step: its destination key, its rate
  and breaker (the step's own keys, else its named connection's);
- :mod:`~filerelay.limits.buckets` — token buckets shared by all workers: a Lua script in
  Redis when the broker is Redis, a row per bucket in the store otherwise;
- :mod:`~filerelay.limits.limiter` — one process's entry point: take a token, ask the breaker,
  record an outcome.

Breaker state always lives in the store (:mod:`filerelay.store.limits`): it changes only on
failures and recoveries, and there the CLI, the API, the metrics and the alerts all read it.
Imports no Celery.
"""

from filerelay.limits.limiter import Limiter, build_limiter
from filerelay.limits.spec import DestinationLimits, limits_of

__all__ = ["DestinationLimits", "Limiter", "build_limiter", "limits_of"]
