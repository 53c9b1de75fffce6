"""Slack incoming webhooks, and compatible ones (Mattermost, Rocket.Chat, Discord's /slack
endpoint, ...).

POSTs ``{"text": ...}``; Slack answers 200 with the body ``ok``, compatible servers any 2xx.
429 and 5xx are retryable, other statuses permanent (Slack names the reason in the body:
``invalid_token``, ``channel_not_found``, ``no_text``, ...).
"""

from __future__ import annotations

from typing import Any

from filerelay.channels.http import json_bytes, post


def message_body(
    text: str,
    username: str | None = None,
    icon_emoji: str | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """The webhook body: the text, plus the overrides that are set."""
    optional = {"username": username, "icon_emoji": icon_emoji, "channel": channel}
    return {"text": text, **{key: value for key, value in optional.items() if value}}


def deliver(http: Any, timeout_s: float, url: str, body: dict[str, Any]) -> int:
    """Post a webhook body on session ``http``; the HTTP status (any 2xx), or raise."""
    return post(http, "slack", url, json_bytes(body), timeout_s=timeout_s).status
