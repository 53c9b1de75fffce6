"""``pipelines/{id}/cancel``: stop a queued or running pipeline."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Body, Depends, Path

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import CancelIn, Cancelled
from filerelay.ops.cancel import cancel
from filerelay.ops.deployment import Deployment

router = APIRouter(tags=["pipelines"])


@router.post("/pipelines/{pipeline_id}/cancel", response_model=Cancelled)
def cancel_pipeline(
    pipeline_id: int = Path(ge=1, le=2**62),
    body: CancelIn | None = Body(None),
    principal: Principal = Depends(allowed("pipelines.cancel")),
    dep: Deployment = Depends(deployment),
) -> Cancelled:
    """Pending steps become cancelled at once; a running step stops at its next checkpoint
    (a script gets SIGTERM); the pipeline fails with 'cancelled by <token>'. With
    ``{"compensate": true}`` the completed steps are undone first, as after a failure."""
    compensate = body.compensate if body is not None else False
    done = cancel(dep.store, dep.control, principal.actor, pipeline_id, compensate)
    return Cancelled.model_validate(asdict(done))
