"""Standard Webhooks 1.0 signatures (https://www.standardwebhooks.com/).

::

    webhook-id:        <message id>          (the same on every retry)
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")> [v1,<...> ...]

A secret is ``whsec_<base64 of the key>`` (the form Standard Webhooks tools generate) or, for
receivers that share a plain string, that string's UTF-8 bytes. Several secrets give several
space-separated signatures, so a receiver can rotate its secret without downtime. The body is
signed as the exact bytes sent (streamed for multipart uploads).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a configured secret; raises ValueError (never showing the secret)."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            # tolerate missing padding, as the reference implementations do
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a 'whsec_' secret must be followed by base64") from None
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def sign(keys: Sequence[bytes], msg_id: str, timestamp: int, body: Iterable[bytes]) -> str:
    """The ``webhook-signature`` header value: one ``v1,<base64>`` per key, space-separated.

    ``body`` is iterated once (chunks of the exact bytes sent).
    """
    prefix = f"{msg_id}.{timestamp}.".encode()
    macs = [hmac.new(key, prefix, hashlib.sha256) for key in keys]
    for chunk in body:
        for mac in macs:
            mac.update(chunk)
    return " ".join(f"v1,{base64.b64encode(mac.digest()).decode('ascii')}" for mac in macs)


def signature_headers(
    keys: Sequence[bytes], msg_id: str, timestamp: int, body: Iterable[bytes]
) -> dict[str, str]:
    """The Standard Webhooks headers (no ``webhook-signature`` when there is no key)."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if keys:
        headers["webhook-signature"] = sign(keys, msg_id, timestamp, body)
    return headers
