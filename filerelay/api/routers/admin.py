"""Admin resources: ``tokens`` (list, create, revoke) and the ``audit`` log."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query, Response

from filerelay.api.auth import Principal, allowed, deployment
from filerelay.api.models import AuditPage, AuditRow, NewToken, Token, TokenIn
from filerelay.ops import tokens as ops_tokens
from filerelay.ops.audit import audited, list_audit
from filerelay.ops.deployment import Deployment
from filerelay.ops.inputs import parse_age, parse_time
from filerelay.store.control import AuditFilter

router = APIRouter(tags=["admin"])


@router.get("/tokens", response_model=list[Token])
def tokens(
    _: Principal = Depends(allowed("tokens")), dep: Deployment = Depends(deployment)
) -> list[Token]:
    """Every token (never its secret)."""
    return [Token.model_validate(asdict(r)) for r in dep.control.tokens()]


@router.post("/tokens", response_model=NewToken, status_code=201)
def create_token(
    body: TokenIn,
    principal: Principal = Depends(allowed("tokens")),
    dep: Deployment = Depends(deployment),
) -> NewToken:
    """Create a token; its secret is in this response only."""
    life = parse_age(body.expires, "expires") if body.expires else None
    params = {"role": body.role, "expires": body.expires}
    with audited(dep.control, principal.actor, "tokens.create", body.name, params):
        made = ops_tokens.create(
            dep.control, body.name, ops_tokens.Role(body.role), life, principal.name
        )
    return NewToken.model_validate({**asdict(made.record), "token": made.token})


@router.delete("/tokens/{name}", status_code=204)
def revoke_token(
    name: str,
    principal: Principal = Depends(allowed("tokens")),
    dep: Deployment = Depends(deployment),
) -> Response:
    """Revoke a token at once (its sessions end too)."""
    with audited(dep.control, principal.actor, "tokens.revoke", name):
        ops_tokens.revoke(dep.control, name)
    return Response(status_code=204)


@router.get("/audit", response_model=AuditPage)
def audit(
    actor: str | None = Query(None, max_length=255),
    action: str | None = Query(None, max_length=64),
    since: str | None = Query(None, max_length=64),
    until: str | None = Query(None, max_length=64),
    outcome: str | None = Query(None, pattern="^(ok|refused)$"),
    cursor: str | None = Query(None, max_length=32),
    limit: int = Query(50, ge=1, le=500),
    _: Principal = Depends(allowed("audit.read")),
    dep: Deployment = Depends(deployment),
) -> AuditPage:
    """Audit rows newest first: every mutation and refused authentication."""
    flt = AuditFilter(
        actor, action, parse_time(since, "since"), parse_time(until, "until"), outcome
    )
    page = list_audit(dep.control, flt, limit, cursor)
    return AuditPage(
        items=[AuditRow.model_validate(r) for r in page.rows], next_cursor=page.next_cursor
    )
