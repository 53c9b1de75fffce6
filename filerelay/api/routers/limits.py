"""``breakers``: the destinations' circuit breakers — list them, close one by hand."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models_ops import Breaker, BreakerClosed
from filerelay.ops import breakers as ops_breakers
from filerelay.ops.audit import audited
from filerelay.ops.deployment import Deployment

router = APIRouter(tags=["breakers"])


@router.get("/breakers", response_model=list[Breaker])
def breakers(
    _: Principal = Depends(allowed("read")), dep: Deployment = Depends(deployment)
) -> list[Breaker]:
    """Every destination's breaker, by destination name."""
    return [Breaker.model_validate(b) for b in ops_breakers.list_breakers(dep.store)]


@router.post("/breakers/{destination}/close", response_model=BreakerClosed)
def close(
    destination: str = Path(min_length=1, max_length=255),
    principal: Principal = Depends(allowed("breakers.close")),
    dep: Deployment = Depends(deployment),
) -> BreakerClosed:
    """Close a destination's breaker now: every waiting step goes through at its next try
    (unknown destination: 400 naming the known ones)."""
    with audited(dep.control, principal.actor, "breakers.close", destination):
        was = ops_breakers.close_breaker(dep.store, destination)
    return BreakerClosed(destination=destination, was=was)
