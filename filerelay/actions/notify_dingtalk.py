"""``notify`` channel ``dingtalk``: a DingTalk group custom robot (webhook with access_token).

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
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from filerelay.actions.base import ActionContext
from filerelay.actions.notify_common import check_http_url, origin
from filerelay.actions.notify_http import check_status, post, session
from filerelay.config.types import TemplateStr
from filerelay.errors import PermanentError, RetryableError
from filerelay.model import JSONDict

if TYPE_CHECKING:
    import requests

RETRYABLE_ERRCODES = {130101: "send too fast", -1: "system busy"}


class DingTalkChannel(BaseModel):
    """Post to a DingTalk group custom robot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["dingtalk"] = Field(description="Channel type.")
    webhook_url: SecretStr = Field(
        description="The robot's webhook URL with its access_token (a secret: use ${ENV}).",
        examples=["${DINGTALK_WEBHOOK}"],
    )
    secret: SecretStr | None = Field(
        default=None, description="The robot's signing secret ('SEC...') for signed mode."
    )
    msgtype: Literal["text", "markdown"] = Field(default="text", description="Message type.")
    title: TemplateStr = Field(
        default="filerelay: {name}", description="Title (markdown messages: the preview)."
    )
    message: TemplateStr = Field(
        description="Message text (a template; markdown syntax with msgtype markdown).",
        examples=["{source}: {relpath} ({size} bytes) arrived"],
    )
    at_mobiles: list[str] = Field(default=[], description="Mobile numbers to @-mention.")
    at_all: bool = Field(default=False, description="@-mention everyone in the group.")

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        check_http_url(value.get_secret_value())
        return value


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of ``timestamp_ms`` (Base64; requests URL-encodes it)."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def payload(cfg: DingTalkChannel, ctx: ActionContext) -> dict[str, Any]:
    """The robot message for this file."""
    text = ctx.render(cfg.message)
    if cfg.msgtype == "markdown":
        at = {"atMobiles": list(cfg.at_mobiles), "isAtAll": cfg.at_all}
        body = {"title": ctx.render(cfg.title), "text": text}
        return {"msgtype": "markdown", "markdown": body, "at": at}
    return text_body(text, cfg.at_mobiles, cfg.at_all)


def send(cfg: DingTalkChannel, ctx: ActionContext) -> JSONDict:
    """Post the message; raise on an HTTP error or a non-zero errcode."""
    secret = cfg.secret.get_secret_value() if cfg.secret is not None else None
    body = payload(cfg, ctx)
    status = deliver(session(ctx), ctx.timeout_s, cfg.webhook_url.get_secret_value(), secret, body)
    return {"channel": "dingtalk", "status": status, "message_id": None}


def deliver(
    http: requests.Session, timeout_s: float, url: str, secret: str | None, body: dict[str, Any]
) -> int:
    """Post a robot message (signed when ``secret``); the HTTP status, or raise on an HTTP
    error or a non-zero errcode. Used by the action and by alert channels."""
    params = None
    if secret is not None:
        timestamp_ms = int(time.time() * 1000)
        params = {"timestamp": str(timestamp_ms), "sign": sign(secret, timestamp_ms)}
    response = post(http, timeout_s, "dingtalk", url, payload=body, params=params)
    check_status(response, "dingtalk", url)
    _check_errcode(response.text, url)
    return response.status_code


def text_body(text: str, at_mobiles: list[str], at_all: bool) -> dict[str, Any]:
    """A plain-text robot message."""
    at = {"atMobiles": list(at_mobiles), "isAtAll": at_all}
    return {"msgtype": "text", "text": {"content": text}, "at": at}


def _check_errcode(body: str, url: str) -> None:
    import json

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
