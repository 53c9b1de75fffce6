"""``config``: the deployment's config file — read (masked), versions, validate, push a new
version (admin), roll back; and ``alerts``: states, history, ack, silence, the alerts
section."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Path, Query

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import (
    Acked,
    AckIn,
    Alerts,
    AlertsText,
    Applied,
    ConfigCurrent,
    ConfigProblemOut,
    ConfigText,
    ConfigVersion,
    SilenceIn,
    Validation,
)
from filerelay.ops import alerts as ops_alerts
from filerelay.ops import config as ops_config
from filerelay.ops.audit import audited
from filerelay.ops.deployment import Deployment

router = APIRouter(tags=["config"])


@router.get("/config", response_model=ConfigCurrent)
def current(
    _: Principal = Depends(allowed("read")), dep: Deployment = Depends(deployment)
) -> ConfigCurrent:
    """The config file this deployment runs, secrets masked, with its version."""
    return ConfigCurrent.model_validate(asdict(ops_config.current(dep.settings, dep.control)))


@router.get("/config/versions", response_model=list[ConfigVersion])
def versions(
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> list[ConfigVersion]:
    """Pushed versions, newest first."""
    return [ConfigVersion.model_validate(v) for v in dep.control.versions(limit)]


@router.post("/config/validate", response_model=Validation)
def validate(
    body: ConfigText,
    _: Principal = Depends(allowed("read")),
    dep: Deployment = Depends(deployment),
) -> Validation:
    """Every problem of a candidate config, located (file, line, field, message), as data."""
    problems = ops_config.validate_text(dep.settings, body.text)
    out = [ConfigProblemOut.model_validate(asdict(p)) for p in problems]
    return Validation(valid=not out, problems=out)


@router.post("/config", response_model=Applied, status_code=201)
def push(
    body: ConfigText,
    principal: Principal = Depends(allowed("config.write")),
    dep: Deployment = Depends(deployment),
) -> Applied:
    """Validate and apply a new version: written atomically over the config file, recorded;
    workers and watchers pick it up by their reload. Invalid: 422, nothing changed."""
    with audited(dep.control, principal.actor, "config.push", None, {"comment": body.comment}):
        number = ops_config.apply(
            dep.settings, dep.control, body.text, principal.name, body.comment
        )
    return Applied(version=number)


@router.post("/config/rollback/{version}", response_model=Applied, status_code=201)
def rollback(
    version: int = Path(ge=1, le=2**31),
    principal: Principal = Depends(allowed("config.write")),
    dep: Deployment = Depends(deployment),
) -> Applied:
    """Apply an earlier version again (as a new version)."""
    with audited(dep.control, principal.actor, "config.rollback", str(version)):
        number = ops_config.rollback(dep.settings, dep.control, version, principal.name)
    return Applied(version=number)


@router.get("/alerts", response_model=Alerts, tags=["alerts"])
def alerts(
    _: Principal = Depends(allowed("read")), dep: Deployment = Depends(deployment)
) -> Alerts:
    """Each rule's state (instances with their ack or silence) and recent sends."""
    return Alerts.model_validate(ops_alerts.alerts_view(dep))


@router.post("/alerts/{rule}/ack", response_model=Acked, tags=["alerts"])
def ack(
    rule: str,
    body: AckIn | None = None,
    principal: Principal = Depends(allowed("alerts.ack")),
    dep: Deployment = Depends(deployment),
) -> Acked:
    """Acknowledge a rule's firing instances (or one)."""
    instance = body.instance if body else None
    return Acked(rule=rule, instances=ops_alerts.ack(dep, principal.actor, rule, instance))


@router.post("/alerts/{rule}/silence", response_model=Acked, tags=["alerts"])
def silence(
    rule: str,
    body: SilenceIn | None = None,
    principal: Principal = Depends(allowed("alerts.ack")),
    dep: Deployment = Depends(deployment),
) -> Acked:
    """Send nothing for a rule's instances (or one) for a while."""
    opts = body or SilenceIn()
    names = ops_alerts.silence(dep, principal.actor, rule, opts.instance, opts.duration)
    return Acked(rule=rule, instances=names)


@router.get("/alerts/config", response_model=AlertsText, tags=["alerts"])
def alerts_config(
    _: Principal = Depends(allowed("read")), dep: Deployment = Depends(deployment)
) -> AlertsText:
    """The config file's ``alerts:`` section, secrets masked."""
    return AlertsText(text=ops_alerts.alerts_section(dep))


@router.put("/alerts/config", response_model=Applied, tags=["alerts"])
def put_alerts_config(
    body: ConfigText,
    principal: Principal = Depends(allowed("alerts.config")),
    dep: Deployment = Depends(deployment),
) -> Applied:
    """Replace the ``alerts:`` section: a new config version, validated first; the rules
    reload without a restart."""
    return Applied(version=ops_alerts.replace_alerts(dep, principal.actor, body.text))
