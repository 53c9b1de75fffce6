"""``fleet``: the config center — which agent runs which version; push a version to every
agent or a canary, promote it, roll back (admin, audited)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models_ops import Fleet, FleetPushed, FleetPushIn, FleetRollbackIn, Rollout
from filerelay.ops import rollout
from filerelay.ops.audit import audited
from filerelay.ops.deployment import Deployment

router = APIRouter(tags=["fleet"])


@router.get("/fleet", response_model=Fleet)
def fleet(_: Principal = Depends(allowed("read")), dep: Deployment = Depends(deployment)) -> Fleet:
    """Versions, the baseline, the rollout under way, and each agent's assigned and running
    version."""
    return Fleet.model_validate(rollout.fleet_status(dep.fleet()).to_json())


@router.post("/fleet/push", response_model=FleetPushed, status_code=201)
def push(
    body: FleetPushIn,
    principal: Principal = Depends(allowed("fleet.write")),
    dep: Deployment = Depends(deployment),
) -> FleetPushed:
    """Keep a config (``text``, or a kept ``version`` again) as a version and roll it out:
    to every agent, or as a canary to ``agents``/``label``/``canary``. Refused: an invalid
    config or a literal secret (422 naming the field), a rollout under way (400)."""
    params = {"version": body.version, "agents": body.agents, "label": body.label}
    params |= {"canary": body.canary, "note": body.note}
    store = dep.fleet()
    with audited(dep.control, principal.actor, "fleet.push", body.name, params):
        target = rollout.parse_target(body.agents, body.label, body.canary)
        text = (
            body.text if body.text is not None else rollout.version_text(store, body.version or 0)
        )
        done = rollout.push_config(store, text, body.name, target, body.note)
    return FleetPushed.model_validate(
        {"version": done.version, "created": done.created, "rollout": done.rollout.to_json()}
    )


@router.post("/fleet/promote", response_model=Rollout, status_code=201)
def promote(
    principal: Principal = Depends(allowed("fleet.write")),
    dep: Deployment = Depends(deployment),
) -> Rollout:
    """Give the canary's version to every agent."""
    with audited(dep.control, principal.actor, "fleet.promote"):
        row = rollout.promote(dep.fleet())
    return Rollout.model_validate(row.to_json())


@router.post("/fleet/rollback", response_model=Rollout, status_code=201)
def rollback(
    body: FleetRollbackIn | None = None,
    principal: Principal = Depends(allowed("fleet.write")),
    dep: Deployment = Depends(deployment),
) -> Rollout:
    """End the canary under way, or return every agent to the previous (or the given)
    version."""
    version = body.version if body else None
    target = str(version) if version is not None else None
    with audited(dep.control, principal.actor, "fleet.rollback", target):
        row = rollout.rollback(dep.fleet(), version)
    return Rollout.model_validate(row.to_json())
