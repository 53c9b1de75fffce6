"""Browser sessions for the console: ``POST /session`` trades a token for a signed,
HttpOnly, SameSite=Strict cookie and a CSRF token; ``DELETE /session`` ends it; ``GET /me``
says who the caller is and what it may do."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from filerelay.api.auth import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    Principal,
    _refuse,
    address_of,
    allowed,
    deployment,
    session_key,
    sign_session,
)
from filerelay.api.models import Me, Session, SessionIn
from filerelay.ops import tokens
from filerelay.ops.tokens import Role

router = APIRouter(tags=["session"])


@router.post("/session", response_model=Session)
def open_session(body: SessionIn, request: Request, response: Response) -> Session:
    """Sign in with a token: sets the session cookie; returns name, role and a CSRF token."""
    wait = request.app.state.brake.retry_after(address_of(request))
    if wait is not None:
        from fastapi import HTTPException

        raise HTTPException(
            429, "too many failed authentications; try later", {"Retry-After": str(int(wait) + 1)}
        )
    found = tokens.authenticate(deployment(request).control, body.token.strip())
    if found is None:
        raise _refuse(request, 401, "unknown, revoked or expired token")
    value, csrf = sign_session(session_key(request), found)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    principal = Principal(found.name, Role(found.role), address_of(request), found.id)
    return Session(name=found.name, role=found.role, actions=principal.permitted(), csrf_token=csrf)


@router.delete("/session", status_code=204)
def close_session(response: Response) -> Response:
    """Sign out: the session cookie is cleared."""
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=Me)
def me(principal: Principal = Depends(allowed("read"))) -> Me:
    """The caller's name, role and permitted actions."""
    return Me(name=principal.name, role=principal.role.value, actions=principal.permitted())
