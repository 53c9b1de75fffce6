"""The text of a config version as the store keeps it: its secrets masked.

The store keeps every loaded config version by the SHA-256 of its real text (the version's
identity), but never that text's literal secrets: :func:`masked_config_text` replaces the
secret values of the config (its ``SecretStr`` fields, secret-named keys, URL passwords and
secret query values, and any other value the process knows as a secret) by ``***``, keeping
``${NAME}`` references, which are not secrets.

A worker that must rebuild a version it never loaded itself reads that masked text back;
:func:`unmasked_config_text` fills every masked value from the config it runs now, at the
same place in the document (a connection's password, a webhook's secret: these seldom differ
between versions, and when they do the current one is the one that works now).
"""

from __future__ import annotations

from collections.abc import Iterable
from io import StringIO
from typing import Any

from ruamel.yaml import YAML

from filerelay.config.yamlsrc import parse_yaml
from filerelay.errors import ConfigError
from filerelay.redaction import (
    MASK,
    is_secret_key,
    mask_secret_query,
    mask_url_passwords,
    process_redactor,
    redact,
    secrets_in,
)


def masked_config_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``secrets``, the secrets its YAML shows by itself (values of secret-named
    keys, URL passwords, secret query values) and the process's known secrets masked, keeping
    ``${NAME}`` references. Edited through ruamel's round trip, so comments and layout stay
    and a mask is quoted where YAML needs it (a bare ``***`` would be an alias)."""
    values = {v for v in {*secrets, *_document_secrets(text)} if "${" not in v}
    yaml = _round_trip()
    try:
        root = yaml.load(text)
    except Exception:  # not YAML (never a loaded version): mask it as plain text
        return _mask_scalar(text, values)
    if not _mask_tree(root, values):
        return text
    out = StringIO()
    yaml.dump(root, out)
    return out.getvalue()


def _round_trip() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # never fold a long line the author wrote as one
    yaml.preserve_quotes = True
    return yaml


def _mask_tree(node: Any, values: set[str]) -> bool:
    """Mask the string scalars under ``node`` in place; True if any changed."""
    changed = False
    items: Iterable[tuple[Any, Any]]
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return False
    for key, value in items:
        if isinstance(value, str):
            secret_key = isinstance(key, str) and is_secret_key(key) and "${" not in value
            masked = MASK if secret_key and value else _mask_scalar(value, values)
            if masked != value:
                node[key] = masked
                changed = True
        else:
            changed = _mask_tree(value, values) or changed
    return changed


def _mask_scalar(text: str, values: set[str]) -> str:
    text = process_redactor().redact_values(redact(text, values))
    return mask_secret_query(mask_url_passwords(text))


def unmasked_config_text(masked: str, current: str) -> str:
    """``masked`` with each scalar holding ``***`` taken from ``current`` at the same place;
    ``masked`` itself when it holds no mask (or cannot be read)."""
    if MASK not in masked:
        return masked
    try:
        old, now = parse_yaml(masked, "stored").data, parse_yaml(current, "current").data
    except ConfigError:
        return masked
    out = StringIO()
    YAML(typ="safe", pure=True).dump(_fill(old, now), out)
    return out.getvalue()


def _fill(old: Any, now: Any) -> Any:
    if isinstance(old, dict):
        return {k: _fill(v, now.get(k) if isinstance(now, dict) else None) for k, v in old.items()}
    if isinstance(old, list):
        peers = now if isinstance(now, list) else []
        return [_fill(v, peers[i] if i < len(peers) else None) for i, v in enumerate(old)]
    if isinstance(old, str) and MASK in old and isinstance(now, str):
        return now
    return old


def _document_secrets(text: str) -> set[str]:
    try:
        data = parse_yaml(text, "config").data
    except ConfigError:
        return set()
    return secrets_in(data)
