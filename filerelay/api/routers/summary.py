"""``summary``: the dashboard's numbers over a window."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import Summary
from filerelay.ops.deployment import Deployment
from filerelay.ops.summary import as_json, summarize

router = APIRouter(tags=["summary"])


@router.get("/summary", response_model=Summary)
def summary(
    window: str = Query("1h", pattern="^(1h|24h|7d)$"),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> Summary:
    """Counts by state, success rate, failures by route and error class, stuck files, queue
    depth, throughput and latency percentiles per bucket."""
    return Summary.model_validate(as_json(summarize(dep.overview, window, queue_depth(dep))))


def queue_depth(dep: Deployment) -> int | None:
    """Messages waiting in the deployment's queue, or None when the broker does not say."""
    from filerelay.ops.status import queue_depths

    try:
        return queue_depths(dep.celery(), [dep.settings.queue]).get(dep.settings.queue)
    except Exception:
        return None
