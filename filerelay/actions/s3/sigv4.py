"""AWS Signature Version 4 for one S3 request whose payload is not signed (``UNSIGNED-PAYLOAD``:
its ``Content-MD5`` is what the server checks the bytes against).

The same computation as botocore's ``S3SigV4Auth`` over plain strings: botocore's builds an
``email.message`` header object and walks it several times, which made the signature about a
third of a small PUT's CPU. S3 takes the path as sent (no normalising, no second encoding).
``tests/actions/test_s3_signed_put.py`` checks it against botocore's signer and against a
server that verifies signatures.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
UNSIGNED_HEADERS = frozenset({"user-agent", "expect", "x-amzn-trace-id", "authorization"})


def amz_date(now: float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))


@lru_cache(maxsize=16)
def signing_key(secret: str, day: str, region: str, service: str = "s3") -> bytes:
    """The day's derived key (the same for every request of that day and region)."""
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def authorization(
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    access_key: str,
    secret_key: str,
    region: str,
) -> str:
    """The ``Authorization`` header for a request to ``path`` (already percent-encoded, no
    query) carrying ``headers``, which must hold ``Host``, ``x-amz-date`` and
    ``x-amz-content-sha256``; every header but User-Agent is signed."""
    signed = {
        name.lower(): " ".join(value.split())
        for name, value in headers.items()
        if name.lower() not in UNSIGNED_HEADERS
    }
    names = sorted(signed)
    signed_names = ";".join(names)
    canonical = "\n".join(
        [
            method,
            path,
            "",
            "".join(f"{name}:{signed[name]}\n" for name in names),
            signed_names,
            signed["x-amz-content-sha256"],
        ]
    )
    stamp = signed["x-amz-date"]
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = signing_key(secret_key, stamp[:8], region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    credential = f"Credential={access_key}/{scope}"
    return f"{ALGORITHM} {credential}, SignedHeaders={signed_names}, Signature={signature}"
