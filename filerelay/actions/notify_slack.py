"""``notify`` channel ``slack``: a Slack incoming webhook, or a compatible one (Mattermost,
Rocket.Chat, Discord's /slack endpoint, ...).

POSTs ``{"text": ...}``; Slack answers 200 with the body ``ok``, compatible servers any 2xx.
429 and 5xx are retryable, other statuses permanent (Slack names the reason in the body:
``invalid_token``, ``channel_not_found``, ``no_text``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from filerelay.actions.base import ActionContext
from filerelay.actions.notify_common import check_http_url
from filerelay.actions.notify_http import check_status, post, session
from filerelay.config.types import TemplateStr
from filerelay.model import JSONDict

if TYPE_CHECKING:
    import requests


class SlackChannel(BaseModel):
    """Post to a Slack-compatible incoming webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["slack"] = Field(description="Channel type.")
    webhook_url: SecretStr = Field(
        description="The incoming webhook URL (it embeds a token: use ${ENV}).",
        examples=["${SLACK_WEBHOOK}"],
    )
    message: TemplateStr = Field(
        description="Message text (a template; Slack mrkdwn).",
        examples=["`{relpath}` ({size} bytes) arrived from {source}"],
    )
    username: str | None = Field(default=None, description="Display name override.")
    icon_emoji: str | None = Field(default=None, description="Icon override, e.g. ':package:'.")
    slack_channel: str | None = Field(
        default=None,
        description="Target channel override, e.g. '#alerts' (sent as 'channel'; honoured by "
        "legacy and compatible webhooks only).",
    )

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        check_http_url(value.get_secret_value())
        return value


def payload(cfg: SlackChannel, ctx: ActionContext) -> dict[str, Any]:
    """The webhook body for this file."""
    body: dict[str, Any] = {"text": ctx.render(cfg.message)}
    optional = {
        "username": cfg.username,
        "icon_emoji": cfg.icon_emoji,
        "channel": cfg.slack_channel,
    }
    body.update({key: value for key, value in optional.items() if value})
    return body


def send(cfg: SlackChannel, ctx: ActionContext) -> JSONDict:
    """Post the message; any 2xx is success."""
    url = cfg.webhook_url.get_secret_value()
    status = deliver(session(ctx), ctx.timeout_s, url, payload(cfg, ctx))
    return {"channel": "slack", "status": status, "message_id": None}


def deliver(http: requests.Session, timeout_s: float, url: str, body: dict[str, Any]) -> int:
    """Post a webhook body; the HTTP status, or raise. Used by the action and alert channels."""
    response = post(http, timeout_s, "slack", url, payload=body)
    check_status(response, "slack", url)
    return response.status_code
