"""Sending an :class:`~filerelay.alerting.messages.Alert` on a configured channel.

The HTTP and SMTP code is the ``notify`` action's (:mod:`filerelay.actions.notify_http`,
``notify_dingtalk``, ``notify_slack``, ``notify_email``): the same errors, the same care
never to print a webhook's token. :meth:`Channels.target` names a channel for the record
(type and URL origin, or the recipients) without any secret.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from pydantic import BaseModel

from filerelay.actions import notify_dingtalk, notify_email, notify_slack
from filerelay.actions.base import ClientCache
from filerelay.actions.notify_common import origin
from filerelay.actions.notify_http import check_status, new_session, post
from filerelay.actions.webhook_sign import decode_secret, signature_headers
from filerelay.alerting.messages import Alert
from filerelay.config.alerts import (
    DingTalkAlertChannel,
    EmailAlertChannel,
    SlackAlertChannel,
    WebhookAlertChannel,
)
from filerelay.config.connections import SmtpConnection
from filerelay.errors import ConfigError, PermanentError

SESSION_KEY = ("alerts", "requests.Session")


class Channels:
    """The configured channels, by name, with one pooled HTTP session."""

    def __init__(
        self,
        configs: Mapping[str, BaseModel],
        connections: Mapping[str, BaseModel],
        clients: ClientCache | None = None,
    ) -> None:
        self.configs = dict(configs)
        self.connections = connections
        self.clients = clients or ClientCache()
        for name, cfg in self.configs.items():
            if isinstance(cfg, WebhookAlertChannel) and cfg.secret is not None:
                try:
                    decode_secret(cfg.secret.get_secret_value())
                except ValueError as exc:  # at start, not at the first alert
                    raise ConfigError(f"alerts.channels.{name}.secret: {exc}") from None

    @property
    def names(self) -> list[str]:
        return sorted(self.configs)

    def target(self, name: str) -> str:
        """``slack https://hooks.slack.com``: what the record shows of a channel."""
        cfg: Any = self.configs[name]
        if isinstance(cfg, EmailAlertChannel):
            return f"email {', '.join(cfg.to)}"
        url = cfg.url if isinstance(cfg, WebhookAlertChannel) else cfg.webhook_url
        return f"{cfg.type} {origin(url.get_secret_value())}"

    def send(self, name: str, alert: Alert) -> None:
        """Send ``alert`` on channel ``name``; raises an ActionError on failure."""
        cfg = self.configs[name]
        http = self.clients.get(SESSION_KEY, new_session)
        if isinstance(cfg, DingTalkAlertChannel):
            secret = cfg.secret.get_secret_value() if cfg.secret else None
            body = notify_dingtalk.text_body(alert.text, cfg.at_mobiles, cfg.at_all)
            url = cfg.webhook_url.get_secret_value()
            notify_dingtalk.deliver(http, cfg.timeout, url, secret, body)
        elif isinstance(cfg, SlackAlertChannel):
            optional = {"username": cfg.username, "icon_emoji": cfg.icon_emoji}
            body = {"text": alert.text, **{k: v for k, v in optional.items() if v}}
            notify_slack.deliver(http, cfg.timeout, cfg.webhook_url.get_secret_value(), body)
        elif isinstance(cfg, WebhookAlertChannel):
            _send_webhook(http, cfg, alert)
        elif isinstance(cfg, EmailAlertChannel):
            self._send_email(cfg, alert)
        else:  # pragma: no cover - the config union has no other member
            raise PermanentError(f"channel {name!r} has an unknown type")

    def _send_email(self, cfg: EmailAlertChannel, alert: Alert) -> None:
        conn = self.connections.get(cfg.connection)
        if not isinstance(conn, SmtpConnection):
            raise PermanentError(f"connection {cfg.connection!r} is not an smtp connection")
        msg = EmailMessage()
        msg["From"] = conn.sender
        msg["To"] = ", ".join(cfg.to)
        if cfg.cc:
            msg["Cc"] = ", ".join(cfg.cc)
        msg["Subject"] = alert.title
        msg["Date"] = formatdate(localtime=True)
        domain = parseaddr(conn.sender)[1].rpartition("@")[2] or None
        msg["Message-ID"] = make_msgid("filerelay-alert", domain=domain)
        msg.set_content(alert.text)
        recipients = [parseaddr(a)[1] for a in (*cfg.to, *cfg.cc)]
        notify_email.deliver(conn, msg, recipients, min(conn.timeout, cfg.timeout))

    def close(self) -> None:
        self.clients.close()


def _send_webhook(http: Any, cfg: WebhookAlertChannel, alert: Alert) -> None:
    """POST the alert's JSON, signed per Standard Webhooks when the channel has a secret."""
    url = cfg.url.get_secret_value()
    body = json.dumps(alert.payload(), separators=(",", ":")).encode()
    keys = [decode_secret(cfg.secret.get_secret_value())] if cfg.secret else []
    headers = {**cfg.headers, "Content-Type": "application/json"}
    headers.update(signature_headers(keys, f"msg_{uuid.uuid4().hex}", int(time.time()), [body]))
    response = post(http, cfg.timeout, "alert", url, data=body, headers=headers)
    check_status(response, "alert", url)
