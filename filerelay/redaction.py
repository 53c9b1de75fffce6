"""Redaction of secrets from text: known secret values, passwords in URLs, secret-named keys.

A :class:`Redactor` holds the secret values one process knows (registered when its settings
and its config are loaded, see :func:`filerelay.logs.register_secrets`) as one compiled
pattern, so redacting a string is one regex pass, plus a second one only for text that holds
a URL with credentials. :func:`secrets_in` finds the secret values of a settings or config
model: every ``SecretStr`` and every password inside a URL, at any depth. :func:`redact`
masks the secrets one piece of code holds (a script's env, a connection's password, a webhook's
headers) in one text; every masking in filerelay goes through it or through a Redactor.

One minimum length everywhere: a value shorter than :data:`MIN_SECRET_CHARS` (4) characters
is not masked by value, since masking ``"on"`` or ``"1"`` would garble every text it appears
in and a 1-3 character secret is guessed anyway; 4 keeps short real secrets (PINs, a ``pw12``
password) out of errors, at the cost of sometimes masking a short non-secret value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, SecretStr

MASK = "***"
# shorter values are not replaced by value (see the module docstring); a secret-named key or a
# URL password is masked whatever its length
MIN_SECRET_CHARS = 4
SECRET_KEY_PARTS = (
    "secret",
    "password",
    "passwd",
    "token",
    "access_key",
    "api_key",
    "authorization",
    "credential",
)
# scheme://user:PASSWORD@ — the password cannot hold '/', '@' or white space unencoded
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)([^\s@/]+)@")


@lru_cache(maxsize=4096)  # called for every key of every log line; keys are few
def is_secret_key(key: str) -> bool:
    """True for a field or log key whose value is a secret by its name (``db_password``)."""
    lowered = key.lower()
    return any(part in lowered for part in SECRET_KEY_PARTS)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` of at least :data:`MIN_SECRET_CHARS` characters
    replaced by ``***`` (a secret containing another is masked whole)."""
    pattern = _values_pattern(secrets)
    return text if pattern is None else pattern.sub(MASK, text)


def _values_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation of the maskable values, longest first; None when there is none."""
    kept = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS}
    if not kept:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(kept, key=len, reverse=True)))


def mask_url_passwords(text: str) -> str:
    """``redis://:hunter2@host`` -> ``redis://:***@host``, for every URL in ``text``."""
    if "://" not in text or "@" not in text:
        return text
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", text)


class Redactor:
    """The secret values of one process, replaced by ``***`` in any text.

    Values are only ever added; the compiled pattern is swapped in one assignment, so
    :meth:`redact` needs no lock.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(values)

    def __len__(self) -> int:
        return len(self._values)

    def add(self, values: Iterable[str]) -> None:
        """Register more secret values (short or empty ones are ignored)."""
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS}
        with self._lock:
            if new <= self._values:
                return
            self._values = self._values | new
            self._pattern = _values_pattern(self._values)

    def redact(self, text: str) -> str:
        """``text`` with every known secret value and every URL password masked."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return mask_url_passwords(text)


def secrets_in(obj: Any) -> set[str]:
    """Every secret value in a pydantic model (settings, a config), a mapping or a list:
    ``SecretStr`` values, values of secret-named keys, and passwords inside URLs."""
    return set(_walk(obj, depth=0))


def _walk(obj: Any, depth: int, key: str = "") -> Iterator[str]:
    if depth > 32:  # models are trees; this only guards against a cycle
        return
    if isinstance(obj, SecretStr):
        value = obj.get_secret_value()
        yield value
        yield from url_passwords(value)
    elif isinstance(obj, str):
        if key and is_secret_key(key):
            yield obj
        yield from url_passwords(obj)
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _walk(getattr(obj, name, None), depth + 1, name)
    elif isinstance(obj, dict):
        for name, value in obj.items():
            yield from _walk(value, depth + 1, str(name))
    elif isinstance(obj, list | tuple | set | frozenset):
        for value in obj:
            yield from _walk(value, depth + 1, key)


def url_passwords(text: str) -> list[str]:
    """The passwords of the URLs in ``text`` (as written and percent-decoded)."""
    if "://" not in text or "@" not in text:
        return []
    found: list[str] = []
    for match in _URL_PASSWORD.finditer(text):
        found += [match.group(2), unquote(match.group(2))]
    return found
