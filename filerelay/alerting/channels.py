"""Sending an :class:`~filerelay.alerting.messages.Alert` on a configured channel.

The senders are :mod:`filerelay.channels`, shared with the ``notify`` action: the same errors,
the same care never to print a webhook's token. :meth:`Channels.target` names a channel for
the record (type and URL origin, or the recipients) without any secret.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from email.utils import make_msgid, parseaddr
from typing import Any

from pydantic import BaseModel

from filerelay.alerting.messages import Alert
from filerelay.channels import dingtalk, mail, slack
from filerelay.channels.http import new_session, origin, post
from filerelay.channels.signing import decode_secret, signature_headers
from filerelay.config.alerts import (
    DingTalkAlertChannel,
    EmailAlertChannel,
    SlackAlertChannel,
    WebhookAlertChannel,
)
from filerelay.config.connections import SmtpConnection
from filerelay.errors import ConfigError, PermanentError


class Channels:
    """The configured channels, by name, with one pooled HTTP session."""

    def __init__(
        self, configs: Mapping[str, BaseModel], connections: Mapping[str, BaseModel]
    ) -> None:
        self.configs = dict(configs)
        self.connections = connections
        self._http: Any = None  # built at the first webhook send
        self._lock = threading.Lock()
        for name, cfg in self.configs.items():
            if not isinstance(cfg, WebhookAlertChannel):
                continue
            for secret in cfg.secret_values():
                try:
                    decode_secret(secret)
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
        if isinstance(cfg, DingTalkAlertChannel):
            secret = cfg.secret.get_secret_value() if cfg.secret else None
            body = dingtalk.text_body(alert.text, cfg.at_mobiles, cfg.at_all)
            url = cfg.webhook_url.get_secret_value()
            dingtalk.deliver(self._session(), cfg.timeout, url, secret, body)
        elif isinstance(cfg, SlackAlertChannel):
            body = slack.message_body(alert.text, cfg.username, cfg.icon_emoji)
            slack.deliver(self._session(), cfg.timeout, cfg.webhook_url.get_secret_value(), body)
        elif isinstance(cfg, WebhookAlertChannel):
            _send_webhook(self._session(), cfg, alert)
        elif isinstance(cfg, EmailAlertChannel):
            self._send_email(cfg, alert)
        else:  # pragma: no cover - the config union has no other member
            raise PermanentError(f"channel {name!r} has an unknown type")

    def _send_email(self, cfg: EmailAlertChannel, alert: Alert) -> None:
        conn = self.connections.get(cfg.connection)
        if not isinstance(conn, SmtpConnection):
            raise PermanentError(f"connection {cfg.connection!r} is not an smtp connection")
        domain = parseaddr(conn.sender)[1].rpartition("@")[2] or None
        msg_id = make_msgid("filerelay-alert", domain=domain)
        msg = mail.compose(conn.sender, cfg.to, cfg.cc, alert.title, alert.text, msg_id)
        addresses = mail.bare_addresses(cfg.to, cfg.cc)
        mail.deliver(conn, msg, addresses, min(conn.timeout, cfg.timeout))

    def session(self) -> Any:
        """The HTTP session (connection pool) of the webhook channels, built once."""
        return self._session()

    def _session(self) -> Any:
        """The HTTP session (connection pool) of the webhook channels, built once."""
        with self._lock:
            if self._http is None:
                self._http = new_session()
            return self._http

    def close(self) -> None:
        """Release the HTTP session."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()


def _send_webhook(http: Any, cfg: WebhookAlertChannel, alert: Alert) -> None:
    """POST the alert's JSON, signed per Standard Webhooks when the channel has a secret
    (one signature per secret while a rotation is in progress)."""
    url = cfg.url.get_secret_value()
    body = json.dumps(alert.payload(), separators=(",", ":")).encode()
    keys = [decode_secret(secret) for secret in cfg.secret_values()]
    headers = {**cfg.headers, "Content-Type": "application/json"}
    headers.update(signature_headers(keys, f"msg_{uuid.uuid4().hex}", int(time.time()), [body]))
    secrets = [*cfg.headers.values(), *cfg.secret_values()]
    post(http, "alert", url, body, timeout_s=cfg.timeout, headers=headers, secrets=secrets)
