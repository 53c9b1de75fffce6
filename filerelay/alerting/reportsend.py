"""Sending a scheduled report on an alert channel: e-mail carries the HTML report (attached
or as the body); DingTalk, Slack and webhooks get the text summary and a link."""

from __future__ import annotations

import json
import time
import uuid
from email.utils import make_msgid, parseaddr

from filerelay.alerting.channels import Channels
from filerelay.channels import dingtalk, mail, slack
from filerelay.channels.http import post
from filerelay.channels.signing import decode_secret, signature_headers
from filerelay.config.alerts import (
    DingTalkAlertChannel,
    EmailAlertChannel,
    SlackAlertChannel,
    WebhookAlertChannel,
)
from filerelay.config.connections import SmtpConnection
from filerelay.errors import PermanentError


def send_report(
    channels: Channels, name: str, title: str, summary: str, html: str, email_mode: str
) -> None:
    """Send one report on channel ``name``; raises an ActionError on failure."""
    cfg = channels.configs[name]
    text = f"{title}\n{summary}"
    if isinstance(cfg, DingTalkAlertChannel):
        secret = cfg.secret.get_secret_value() if cfg.secret else None
        body = dingtalk.text_body(text, cfg.at_mobiles, cfg.at_all)
        dingtalk.deliver(
            channels.session(), cfg.timeout, cfg.webhook_url.get_secret_value(), secret, body
        )
    elif isinstance(cfg, SlackAlertChannel):
        body = slack.message_body(text, cfg.username, cfg.icon_emoji)
        slack.deliver(channels.session(), cfg.timeout, cfg.webhook_url.get_secret_value(), body)
    elif isinstance(cfg, WebhookAlertChannel):
        payload = {"source": "filerelay", "kind": "report", "title": title, "text": summary}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        keys = [decode_secret(s) for s in cfg.secret_values()]
        headers = {**cfg.headers, "Content-Type": "application/json"}
        headers.update(signature_headers(keys, f"msg_{uuid.uuid4().hex}", int(time.time()), [raw]))
        secrets = [*cfg.headers.values(), *cfg.secret_values()]
        url = cfg.url.get_secret_value()
        post(
            channels.session(),
            "report",
            url,
            raw,
            timeout_s=cfg.timeout,
            headers=headers,
            secrets=secrets,
        )
    elif isinstance(cfg, EmailAlertChannel):
        _email(channels, cfg, title, summary, html, email_mode)
    else:  # pragma: no cover - the config union has no other member
        raise PermanentError(f"channel {name!r} has an unknown type")


def _email(
    channels: Channels, cfg: EmailAlertChannel, title: str, summary: str, html: str, mode: str
) -> None:
    conn = channels.connections.get(cfg.connection)
    if not isinstance(conn, SmtpConnection):
        raise PermanentError(f"connection {cfg.connection!r} is not an smtp connection")
    domain = parseaddr(conn.sender)[1].rpartition("@")[2] or None
    msg = mail.compose(
        conn.sender, cfg.to, cfg.cc, title, summary, make_msgid("filerelay-report", domain=domain)
    )
    if mode == "inline":
        msg.add_alternative(html, subtype="html")
    else:
        msg.add_attachment(html.encode(), maintype="text", subtype="html", filename="report.html")
    mail.deliver(conn, msg, mail.bare_addresses(cfg.to, cfg.cc), min(conn.timeout, cfg.timeout))
