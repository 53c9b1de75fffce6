"""Who is calling, and may they: bearer tokens (scripts) and signed session cookies (the
console), roles per action, CSRF for cookie-authenticated mutations, and a brake on
repeated failures from one address.

Every route names the action it performs (:data:`ACTIONS`); the action names the least role
allowed. ``GET /api/v1/me`` lists the actions a caller may perform, so the console can hide
what it cannot do. Refused authentications are audited.

Sessions are stateless across servers: the cookie holds the token's id and name, an expiry
and a CSRF token, signed (HMAC-SHA256) with a key kept in the store; each request checks the
token is still live, so revoking a token ends its sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from filerelay.ops import tokens
from filerelay.ops.audit import Actor, record
from filerelay.ops.deployment import Deployment
from filerelay.ops.tokens import Role
from filerelay.store.control import TokenRecord

SESSION_COOKIE = "filerelay_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600
SESSION_KEY_NAME = "session_key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: action → the least role allowed to perform it
ACTIONS: dict[str, Role] = {
    "read": Role.VIEWER,
    "events.retry": Role.OPERATOR,
    "events.reprocess": Role.OPERATOR,
    "pipelines.cancel": Role.OPERATOR,
    "sources.pause": Role.OPERATOR,
    "sources.upload": Role.OPERATOR,
    "submit": Role.OPERATOR,
    "alerts.ack": Role.OPERATOR,
    "breakers.close": Role.OPERATOR,
    "config.write": Role.ADMIN,
    "alerts.config": Role.ADMIN,
    "fleet.write": Role.ADMIN,
    "tokens": Role.ADMIN,
    "audit.read": Role.ADMIN,
}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role
    address: str | None
    token_id: str
    via_cookie: bool = False
    csrf: str | None = None

    @property
    def actor(self) -> Actor:
        """The caller as the actor of audit rows."""
        return Actor(self.name, self.role.value, self.address)

    def permitted(self) -> list[str]:
        """The actions this caller may perform."""
        return [a for a, needed in ACTIONS.items() if self.role.allows(needed)]


class FailureBrake:
    """Slows down guessing: after ``limit`` failed authentications from one address within
    ``window_s``, that address is refused (429) until the window has passed."""

    def __init__(self, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None."""
        now = time.monotonic()
        with self._lock:
            seen = self._failures.get(address)
            if not seen:
                return None
            while seen and now - seen[0] > self.window_s:
                seen.popleft()
            if len(seen) < self.limit:
                return None
            return self.window_s - (now - seen[0])

    def failed(self, address: str) -> None:
        """Count one failure of ``address``."""
        with self._lock:
            if len(self._failures) > 10_000:  # many addresses: forget the quiet ones
                self._failures.clear()
            self._failures.setdefault(address, deque(maxlen=self.limit * 2)).append(
                time.monotonic()
            )


def deployment(request: Request) -> Deployment:
    """The deployment the app serves."""
    dep: Deployment = request.app.state.dep
    return dep


def address_of(request: Request) -> str:
    """The client's address (the proxy's forwarded one only when told to trust it)."""
    return request.client.host if request.client else "unknown"


# --- session cookies ---------------------------------------------------------------------


def session_key(request: Request) -> bytes:
    """The signing key shared by every server of the deployment (made once, in the store)."""
    state = request.app.state
    if getattr(state, "session_key", None) is None:
        dep = deployment(request)
        state.session_key = dep.control.secret(
            SESSION_KEY_NAME, lambda: secrets.token_hex(32)
        ).encode()
    key: bytes = state.session_key
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign_session(key: bytes, record_: TokenRecord, ttl_s: float = SESSION_TTL_S) -> tuple[str, str]:
    """(cookie value, CSRF token) of a new session for a token."""
    csrf = secrets.token_urlsafe(24)
    body = {"t": record_.id, "n": record_.name, "e": int(time.time() + ttl_s), "c": csrf}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    mac = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}", csrf


def read_session(key: bytes, value: str) -> dict[str, Any] | None:
    """The session a cookie holds, if its signature is right and it has not expired."""
    payload, _, mac = value.partition(".")
    good = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac, good):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("e"), int) or body["e"] < time.time():
        return None
    return body


# --- the dependency ------------------------------------------------------------------------


def _refuse(
    request: Request, status: int, reason: str, who: str = "anonymous", guess: bool = True
) -> HTTPException:
    """Audit a refused call; a wrong credential (``guess``) counts towards the brake."""
    address = address_of(request)
    if status == 401 and guess:
        request.app.state.brake.failed(address)
    dep = deployment(request)
    record(
        dep.control,
        Actor(who, "", address),
        "authenticate",
        request.url.path,
        None,
        f"refused: {reason}",
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status, reason, headers=headers)


def _from_bearer(request: Request, token: str) -> Principal:
    found = tokens.authenticate(deployment(request).control, token.strip())
    if found is None:
        raise _refuse(request, 401, "unknown, revoked or expired token")
    return Principal(found.name, Role(found.role), address_of(request), found.id)


def _from_cookie(request: Request, value: str) -> Principal:
    body = read_session(session_key(request), value)
    if body is None:
        raise _refuse(request, 401, "session expired or not valid; sign in again")
    found = deployment(request).control.token_by_name(str(body.get("n")))
    if found is None or found.id != body.get("t") or not tokens.is_live(found):
        raise _refuse(request, 401, "the session's token was revoked or expired")
    principal = Principal(
        found.name, Role(found.role), address_of(request), found.id, True, body.get("c")
    )
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not principal.csrf or not hmac.compare_digest(sent, principal.csrf):
            raise _refuse(request, 403, f"missing or wrong {CSRF_HEADER} header", found.name)
    return principal


def authenticate(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer`` or the session cookie; 401/429 otherwise."""
    wait = request.app.state.brake.retry_after(address_of(request))
    if wait is not None:
        raise HTTPException(
            429, "too many failed authentications; try later", {"Retry-After": str(int(wait) + 1)}
        )
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _refuse(request, 401, "Authorization must be 'Bearer <token>'")
        return _from_bearer(request, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return _from_cookie(request, cookie)
    raise _refuse(request, 401, "no credentials: send 'Authorization: Bearer <token>'", guess=False)


def allowed(action: str) -> Callable[[Request], Principal]:
    """The dependency of a route performing ``action``: the caller, if their role may."""
    needed = ACTIONS[action]

    def check(request: Request) -> Principal:
        principal = authenticate(request)
        if not principal.role.allows(needed):
            raise _refuse(
                request,
                403,
                f"{action} needs the {needed.value} role (yours: {principal.role.value})",
                principal.name,
            )
        return principal

    check.__name__ = f"allowed_{action.replace('.', '_')}"
    check.action = action  # type: ignore[attr-defined]
    return check
