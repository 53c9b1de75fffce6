"""Redaction of secrets from text: known secret values, passwords in URLs, secret-named keys.

A :class:`Redactor` holds the secret values one process knows (registered when its settings
and its config are loaded, see :func:`filerelay.logs.register_secrets`) as one compiled
pattern, so redacting a string is one regex pass, plus a second one only for text that holds
a URL with credentials. :func:`secrets_in` finds the secret values of a settings or config
model: every ``SecretStr`` and every password inside a URL, at any depth. :func:`redact`
masks the secrets one piece of code holds (a script's env, a connection's password, a webhook's
headers) in one text; every masking in filerelay goes through it or through a Redactor.

:func:`process_redactor` is the one Redactor of a process, shared by the log output and the
store: it starts with the secret values of the process environment
(:func:`environment_secrets`: ``AWS_SECRET_ACCESS_KEY``, ``*_PASSWORD``, ``*_TOKEN``, the
passwords of every URL in it, ...), and the settings and the config add theirs when they load.
:func:`sanitize` is what the store applies to every text it records (results, errors,
reasons): that masking, plus URLs without their userinfo and secret query values, plus the
characters PostgreSQL refuses (NUL, lone surrogates) replaced.

One minimum length everywhere: a value shorter than :data:`MIN_SECRET_CHARS` (4) characters
is not masked by value, since masking ``"on"`` or ``"1"`` would garble every text it appears
in and a 1-3 character secret is guessed anyway; 4 keeps short real secrets (PINs, a ``pw12``
password) out of errors, at the cost of sometimes masking a short non-secret value.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, SecretStr

from filerelay import fsnames

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
# scheme://USERINFO@ (dropped whole from recorded text)
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/@?#]+@")
# ?name=value / &name=value (a secret-named name's value is masked)
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s?]+)=([^&;#\s]*)")
# query parameter names that carry a secret without a secret-looking name
_SECRET_QUERY_NAMES = frozenset({"sig", "signature", "key", "apikey", "auth", "code", "pass"})
# environment variables whose value is a secret by the variable's name
SECRET_NAME = re.compile(r"SECRET|PASSW|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE", re.IGNORECASE)
# values of such variables that are switches, not secrets (masking them would garble text)
_NOT_SECRET_VALUES = frozenset({"true", "false", "none", "null", "never", "always", "auto"})
# NUL (PostgreSQL refuses it in text) and lone surrogates (not encodable as UTF-8)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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
    """``redis://:hunter2@host`` -> ``redis://:***@host``, for every URL in ``text`` (a
    ``${NAME}`` reference in a config text is not a secret and is kept)."""
    if "://" not in text or "@" not in text:
        return text
    return _URL_PASSWORD.sub(_mask_password, text)


def _mask_password(match: re.Match[str]) -> str:
    keep = match.group(2).startswith("${")
    return f"{match.group(1)}{match.group(2) if keep else MASK}@"


def mask_secret_query(text: str) -> str:
    """``?access_token=abc&x=1`` -> ``?access_token=***&x=1``: the values of query parameters
    named like a secret (``token``, ``sig``, ``key``, ...), for every query in ``text``."""
    return _QUERY_PARAM.sub(_mask_query_value, text) if "=" in text else text


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
        return mask_url_passwords(self.redact_values(text))

    def redact_values(self, text: str) -> str:
        """``text`` with every known secret value masked."""
        pattern = self._pattern
        return text if pattern is None else pattern.sub(MASK, text)


_process_redactor: Redactor | None = None
_process_lock = threading.Lock()


def process_redactor() -> Redactor:
    """The redactor of this process, shared by every log line and every store write; made
    with the secret values of the process environment (:func:`environment_secrets`)."""
    global _process_redactor
    if _process_redactor is None:
        with _process_lock:
            if _process_redactor is None:
                _process_redactor = Redactor(environment_secrets(os.environ))
    return _process_redactor


def environment_secrets(environ: Mapping[str, str]) -> set[str]:
    """Secret values of an environment: the value of every variable named like a credential
    (SECRET, PASSW, TOKEN, KEY, CREDENTIAL, AUTH, PRIVATE), unless it is a switch like
    ``true``, and every password inside a URL in any value."""
    found: set[str] = set()
    for name, value in environ.items():
        if SECRET_NAME.search(name) and value.strip().lower() not in _NOT_SECRET_VALUES:
            found.add(value)
        found.update(url_passwords(value))
    return found


def sanitize(text: str, redactor: Redactor | None = None) -> str:
    """``text`` fit to be recorded: known secrets masked (``redactor``, default the process's),
    URLs without userinfo and with their secret query values masked, a file name's bytes
    that are not UTF-8 written ``\\xNN`` (:func:`fsnames.readable`), and NUL bytes (refused
    by PostgreSQL) replaced by U+FFFD."""
    text = fsnames.readable((redactor or process_redactor()).redact(text))
    if "://" in text:
        text = _URL_USERINFO.sub(r"\1", text)
    return _UNSTORABLE.sub("\ufffd", mask_secret_query(text))


def sanitize_json(value: Any, redactor: Redactor | None = None) -> Any:
    """:func:`sanitize` applied to every string (and mapping key) of a JSON value."""
    redactor = redactor or process_redactor()
    if isinstance(value, str):
        return sanitize(value, redactor)
    if isinstance(value, dict):
        return {sanitize(str(k), redactor): sanitize_json(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize_json(v, redactor) for v in value]
    return value


def _mask_query_value(match: re.Match[str]) -> str:
    sep, name, value = match.groups()
    secret = is_secret_key(name) or name.lower() in _SECRET_QUERY_NAMES
    if not secret or not value or value == MASK or value.startswith("${"):
        return match.group(0)
    return f"{sep}{name}={MASK}"


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
