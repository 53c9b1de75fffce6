"""The HTTP API (FastAPI) over the operator use cases of :mod:`filerelay.ops`.

- :mod:`~filerelay.api.app` — :func:`create_app`, the app factory
- :mod:`~filerelay.api.auth` — bearer tokens and session cookies → a principal with a role;
  the role each route needs; CSRF; slowing down repeated failures
- :mod:`~filerelay.api.problems` — errors as RFC 9457 problem details
- :mod:`~filerelay.api.models` — the response models (the OpenAPI document is exact)
- :mod:`~filerelay.api.sse` — Server-Sent Events: one poller per process, many subscribers
- :mod:`~filerelay.api.routers` — one module per resource group
"""

from filerelay.api.app import create_app

__all__ = ["create_app"]
