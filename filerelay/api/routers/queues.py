"""``queues/depth``: the queue-depth history, the dashboard's trend chart."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models_ops import QueueDepthHistory
from filerelay.ops import queue_depth
from filerelay.ops.deployment import Deployment
from filerelay.store.queue_depths import QueueDepthStore

router = APIRouter(tags=["summary"])


@router.get("/queues/depth", response_model=QueueDepthHistory)
def depth(
    window: str = Query("1h", pattern="^(1h|24h|7d)$"),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> QueueDepthHistory:
    """Messages waiting per broker queue over the window, the deepest of each bucket (1 min
    for 1h, 5 min for 24h, 1 h for 7d)."""
    found = queue_depth.history(QueueDepthStore(dep.store.engine), window)
    return QueueDepthHistory.model_validate(found.as_json())
