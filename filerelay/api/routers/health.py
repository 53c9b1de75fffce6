"""``health`` (liveness, no auth) and ``ready`` (the store and the broker answer, no auth:
for load balancers and orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from filerelay.api.auth import deployment
from filerelay.api.models import Check, Health, Ready
from filerelay.ops.deployment import Deployment
from filerelay.ops.health import check_broker

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process answers (no authentication)."""
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
def ready(dep: Deployment = Depends(deployment)) -> JSONResponse:
    """The store and the broker answer (no authentication); 503 when one does not."""
    checks = [Check(name="store", ok=True)]
    try:
        dep.store.paused_sources()
    except Exception as exc:
        checks[0] = Check(name="store", ok=False, detail=str(exc).splitlines()[0][:300])
    broker = check_broker(dep.celery(), dep.settings)
    checks.append(Check(name="broker", ok=broker.ok, detail=broker.detail[:300]))
    ok = all(c.ok for c in checks)
    body = Ready(ready=ok, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
