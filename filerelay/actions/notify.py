"""The ``notify`` action: tell people a file arrived (or a route failed), on one channel.

The config is a union chosen by ``channel``::

    notify: {channel: dingtalk, webhook_url: "${DINGTALK_WEBHOOK}", secret: "${DINGTALK_SECRET}",
             message: "{relpath} arrived"}
    notify: {channel: slack, webhook_url: "${SLACK_WEBHOOK}", message: "{relpath} arrived"}
    notify: {channel: email, connection: mail, to: [ops@example.com], message: "..."}

This module holds the channels' config models and renders their templates for the file; the
sending is :mod:`filerelay.channels` (shared with the alert channels). Webhook URLs and signing
secrets are ``SecretStr`` and never appear in logs, errors or results. A notification cannot be
taken back, so there is nothing to compensate.
"""

from __future__ import annotations

import mimetypes
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SecretStr,
    field_validator,
)

from filerelay.actions.base import Action, ActionContext
from filerelay.channels import dingtalk, mail, slack
from filerelay.channels.http import check_http_url, new_session
from filerelay.config.models import SmtpConnection
from filerelay.config.types import SizeBytes, TemplateStr
from filerelay.errors import PermanentError
from filerelay.model import JSONDict
from filerelay.safefs import source_error

SESSION_KEY = ("notify", "requests.Session")  # the webhook channels' pooled session
MiB = 1024 * 1024
SENT = 250  # the SMTP reply code reported as an e-mail's status


def _webhook_url(value: SecretStr) -> SecretStr:
    check_http_url(value.get_secret_value())
    return value


WebhookUrl = Annotated[SecretStr, AfterValidator(_webhook_url)]


class DingTalkChannel(BaseModel):
    """Post to a DingTalk group custom robot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["dingtalk"] = Field(description="Channel type.")
    webhook_url: WebhookUrl = Field(
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


class SlackChannel(BaseModel):
    """Post to a Slack-compatible incoming webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["slack"] = Field(description="Channel type.")
    webhook_url: WebhookUrl = Field(
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


class EmailChannel(BaseModel):
    """Send an e-mail through an smtp connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["email"] = Field(description="Channel type.")
    connection: str = Field(description="Name of an smtp connection under 'connections'.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    cc: list[str] = Field(default=[], description="Carbon-copy addresses.")
    subject: TemplateStr = Field(
        default="filerelay: {relpath}", description="Subject line (a template)."
    )
    message: TemplateStr = Field(
        description="Plain-text body (a template).",
        examples=["{relpath} ({size} bytes) arrived from {source} on {host}."],
    )
    attach_file: bool = Field(default=False, description="Attach the file itself.")
    max_attachment_bytes: SizeBytes = Field(
        default=10 * MiB,
        ge=1,
        description="Largest file attached; a larger one fails the step (permanent).",
    )

    @field_validator("to", "cc")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        for value in values:
            _name, address = parseaddr(value)
            if "@" not in address or any(c in value for c in "\r\n"):
                raise ValueError(f"{value!r} is not an e-mail address")
        return values


Channel = Annotated[
    Union[DingTalkChannel, SlackChannel, EmailChannel],  # noqa: UP007
    Field(discriminator="channel"),
]


class NotifyConfig(RootModel[Channel]):
    """Send a notification: a DingTalk robot, a Slack-compatible webhook, or an e-mail.

    ``channel`` picks the channel (dingtalk, slack or email) and with it the other fields.
    """

    model_config = ConfigDict(frozen=True)

    root: Channel = Field(
        description="The channel's settings, chosen by 'channel': dingtalk, slack or email."
    )

    @property
    def connection(self) -> str | None:
        """The smtp connection's name (email only), checked when the config loads."""
        return getattr(self.root, "connection", None)


class NotifyAction(Action[NotifyConfig]):
    """Sends the notification. Result: ``{channel, status, message_id}`` — status is the HTTP
    status (webhooks) or the SMTP reply code; message_id the e-mail's Message-ID (else null);
    e-mail adds ``refused``, the recipients the server turned down.
    """

    name = "notify"
    reads_file = False  # unless an e-mail attaches the file (touches_file)
    Config = NotifyConfig
    connection_type: ClassVar[str | None] = "smtp"

    @classmethod
    def touches_file(cls, config: Any) -> bool:
        """An e-mail that attaches the file needs the file's host; any other runs anywhere."""
        channel = getattr(config, "root", config)
        return bool(getattr(channel, "attach_file", False)) or super().touches_file(config)

    def run(self, ctx: ActionContext) -> JSONDict:
        cfg = self.config.root
        if isinstance(cfg, DingTalkChannel):
            result = self._dingtalk(cfg, ctx)
        elif isinstance(cfg, SlackChannel):
            result = self._slack(cfg, ctx)
        else:
            result = self._email(cfg, ctx, self._smtp(cfg.connection))
        ctx.log.info("notify_sent", channel=result["channel"], status=result["status"])
        return result

    def _session(self) -> Any:
        return self.resources.clients.get(SESSION_KEY, new_session)

    def _dingtalk(self, cfg: DingTalkChannel, ctx: ActionContext) -> JSONDict:
        text = ctx.render(cfg.message)
        if cfg.msgtype == "markdown":
            title = ctx.render(cfg.title)
            body = dingtalk.markdown_body(title, text, cfg.at_mobiles, cfg.at_all)
        else:
            body = dingtalk.text_body(text, cfg.at_mobiles, cfg.at_all)
        secret = cfg.secret.get_secret_value() if cfg.secret is not None else None
        url = cfg.webhook_url.get_secret_value()
        status = dingtalk.deliver(self._session(), ctx.timeout_s, url, secret, body)
        return {"channel": "dingtalk", "status": status, "message_id": None}

    def _slack(self, cfg: SlackChannel, ctx: ActionContext) -> JSONDict:
        body = slack.message_body(
            ctx.render(cfg.message), cfg.username, cfg.icon_emoji, cfg.slack_channel
        )
        url = cfg.webhook_url.get_secret_value()
        status = slack.deliver(self._session(), ctx.timeout_s, url, body)
        return {"channel": "slack", "status": status, "message_id": None}

    def _email(self, cfg: EmailChannel, ctx: ActionContext, conn: SmtpConnection) -> JSONDict:
        msg = mail.compose(
            conn.sender,
            cfg.to,
            cfg.cc,
            " ".join(ctx.render(cfg.subject).split()),
            ctx.render(cfg.message),
            mail.message_id(ctx.idempotency_key, conn.sender),
        )
        if cfg.attach_file:
            _attach(msg, cfg, ctx)
        addresses = mail.bare_addresses(cfg.to, cfg.cc)
        refused = mail.deliver(conn, msg, addresses, min(conn.timeout, ctx.timeout_s))
        return {
            "channel": "email",
            "status": SENT,
            "message_id": msg["Message-ID"],
            "refused": sorted(refused),
        }

    def _smtp(self, name: str) -> SmtpConnection:
        conn = self.resources.connection(name)
        if not isinstance(conn, SmtpConnection):
            raise PermanentError(f"connection {name!r} is not an smtp connection")
        return conn


def _attach(msg: EmailMessage, cfg: EmailChannel, ctx: ActionContext) -> None:
    """Attach the file itself, unless it changed or is above ``max_attachment_bytes``."""
    if ctx.event.size > cfg.max_attachment_bytes:
        raise PermanentError(
            f"file is {ctx.event.size} bytes, above max_attachment_bytes "
            f"({cfg.max_attachment_bytes}): not attached to the e-mail"
        )
    try:
        with ctx.open_source() as source, source.stream() as fh:
            data = fh.read(cfg.max_attachment_bytes + 1)
    except OSError as exc:
        raise source_error(exc, ctx.path) from exc
    if len(data) != ctx.event.size:
        raise PermanentError(f"file changed since it was declared stable: {ctx.path}")
    name = ctx.template_values()["name"]
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    maintype, _, subtype = kind.partition("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
