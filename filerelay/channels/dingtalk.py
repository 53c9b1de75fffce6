"""DingTalk group custom robots (a webhook URL with an access_token).

In signed mode (the robot's 'sign' security setting) every request carries ``timestamp``
(Unix ms) and ``sign`` = Base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")) as query
parameters, URL-encoded, as DingTalk's custom robot documentation specifies. DingTalk answers
HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; a non-zero errcode is a failure: 'send too
fast' (130101, at most 20 messages a minute per robot) and 'system busy' (-1) are retryable,
the rest (bad token, keyword or IP not allowed, bad sign: 310000, ...) are permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

from filerelay.channels.http import json_bytes, origin, post
from filerelay.errors import PermanentError, RetryableError

RETRYABLE_ERRCODES = {130101: "send too fast", -1: "system busy"}


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of ``timestamp_ms`` (Base64; requests URL-encodes it)."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def text_body(text: str, at_mobiles: Sequence[str], at_all: bool) -> dict[str, Any]:
    """A plain-text robot message."""
    at = {"atMobiles": list(at_mobiles), "isAtAll": at_all}
    return {"msgtype": "text", "text": {"content": text}, "at": at}


def markdown_body(title: str, text: str, at_mobiles: Sequence[str], at_all: bool) -> dict[str, Any]:
    """A markdown robot message (``title`` is the preview)."""
    at = {"atMobiles": list(at_mobiles), "isAtAll": at_all}
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}


def deliver(http: Any, timeout_s: float, url: str, secret: str | None, body: dict[str, Any]) -> int:
    """Post a robot message (signed when ``secret``) on session ``http``; the HTTP status, or
    raise on an HTTP error or a non-zero errcode."""
    params = None
    if secret is not None:
        timestamp_ms = int(time.time() * 1000)
        params = {"timestamp": str(timestamp_ms), "sign": sign(secret, timestamp_ms)}
    secrets = [secret] if secret else []
    answer = post(
        http, "dingtalk", url, json_bytes(body), timeout_s=timeout_s, params=params, secrets=secrets
    )
    _check_errcode(answer.excerpt, url)
    return answer.status


def _check_errcode(body: str, url: str) -> None:
    where = f"dingtalk robot at {origin(url)}"
    try:
        answer = json.loads(body)
        errcode = int(answer.get("errcode", 0))
    except (ValueError, TypeError, AttributeError):
        raise PermanentError(f"{where} answered something that is not its JSON") from None
    if errcode == 0:
        return
    errmsg = str(answer.get("errmsg", ""))[:200]
    message = f"{where} refused the message: errcode {errcode} ({errmsg})"
    if errcode in RETRYABLE_ERRCODES:
        raise RetryableError(message)
    raise PermanentError(message)
