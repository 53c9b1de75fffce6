"""API tokens: create (shown once), list, revoke, authenticate, and the bootstrap admin token
``filerelay run`` creates on its first start.

A token is ``fr_`` + 32 random bytes (URL-safe base64); the store keeps only its SHA-256, so
a leaked database grants nothing. Roles are ordered: viewer < operator < admin.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from filerelay.errors import UsageError
from filerelay.statedir import write_private
from filerelay.store.admin import ControlStore
from filerelay.store.control import TokenRecord
from filerelay.store.db import as_utc, utcnow

TOKEN_PREFIX = "fr_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
BOOTSTRAP_NAME = "admin-bootstrap"
BOOTSTRAP_FILE = "api-token"
#: ``last_used_at`` is written at most this often per token (not on every request).
TOUCH_EVERY = timedelta(minutes=1)


class Role(StrEnum):
    """What a token may do; each role may do all the one before it may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role may call a route that needs ``needed``."""
        return self.rank >= needed.rank


def hash_token(token: str) -> str:
    """The SHA-256 the store keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_role(value: str) -> Role:
    """A role by name, or :class:`UsageError` naming the choices."""
    try:
        return Role(value)
    except ValueError:
        raise UsageError(
            f"unknown role {value!r} (one of: {', '.join(r.value for r in Role)})"
        ) from None


@dataclass(frozen=True)
class NewToken:
    """A token just created: its record and the secret, which is never shown again."""

    record: TokenRecord
    token: str


def create(
    store: ControlStore, name: str, role: Role, expires_in: timedelta | None, by: str
) -> NewToken:
    """Create a token; :class:`UsageError` for a bad or taken name."""
    if not NAME_RE.match(name):
        raise UsageError(f"token name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    values = {
        "id": uuid.uuid4().hex,
        "name": name,
        "role": role.value,
        "token_hash": hash_token(token),
        "created_at": now,
        "created_by": by,
        "expires_at": now + expires_in if expires_in else None,
    }
    if not store.add_token(values):
        raise UsageError(f"a token named {name!r} exists (revoke it or pick another name)")
    record = store.token_by_name(name)
    assert record is not None
    return NewToken(record, token)


def authenticate(store: ControlStore, token: str) -> TokenRecord | None:
    """The live token this secret is, or None (unknown, revoked or expired)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    record = store.token_by_hash(hash_token(token))
    now = datetime.now(UTC)
    if record is None or record.revoked_at is not None:
        return None
    if record.expires_at is not None and as_utc(record.expires_at) <= now:
        return None
    last = record.last_used_at
    if last is None or now - as_utc(last) > TOUCH_EVERY:
        store.touch_token(record.id)
    return record


def revoke(store: ControlStore, name: str) -> None:
    """Revoke a token by name; :class:`UsageError` when there is no live one."""
    if not store.revoke_token(name):
        raise UsageError(f"no live token named {name!r}")


def is_live(record: TokenRecord, now: datetime | None = None) -> bool:
    """Neither revoked nor expired."""
    now = now or datetime.now(UTC)
    if record.revoked_at is not None:
        return False
    return record.expires_at is None or as_utc(record.expires_at) > now


def bootstrap(store: ControlStore, state_dir: Path, by: str) -> str | None:
    """On a first start with no live token: an admin token, written to
    ``<state_dir>/api-token`` (mode 0600); None when a live token exists."""
    if store.live_tokens():
        return None
    name = BOOTSTRAP_NAME
    if store.token_by_name(name) is not None:
        name = f"{BOOTSTRAP_NAME}-{secrets.token_hex(3)}"
    made = create(store, name, Role.ADMIN, None, by)
    write_private(state_dir / BOOTSTRAP_FILE, made.token + "\n")
    return made.token
