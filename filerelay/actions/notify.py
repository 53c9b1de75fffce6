"""The ``notify`` action: tell people a file arrived (or a route failed), on one channel.

The config is a union chosen by ``channel``::

    notify: {channel: dingtalk, webhook_url: "${DINGTALK_WEBHOOK}", secret: "${DINGTALK_SECRET}",
             message: "{relpath} arrived"}
    notify: {channel: slack, webhook_url: "${SLACK_WEBHOOK}", message: "{relpath} arrived"}
    notify: {channel: email, connection: mail, to: [ops@example.com], message: "..."}

Channels live in ``notify_dingtalk``, ``notify_slack`` and ``notify_email``; webhook URLs and
signing secrets are ``SecretStr`` and never appear in logs, errors or results. A notification
cannot be taken back, so there is nothing to compensate.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Union

from pydantic import ConfigDict, Field, RootModel

from filerelay.actions import notify_dingtalk, notify_email, notify_slack
from filerelay.actions.base import Action, ActionContext
from filerelay.actions.notify_dingtalk import DingTalkChannel
from filerelay.actions.notify_email import EmailChannel
from filerelay.actions.notify_slack import SlackChannel
from filerelay.config.models import SmtpConnection
from filerelay.errors import PermanentError
from filerelay.model import JSONDict

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
    Config = NotifyConfig
    connection_type: ClassVar[str | None] = "smtp"

    def run(self, ctx: ActionContext) -> JSONDict:
        cfg = self.config.root
        if isinstance(cfg, DingTalkChannel):
            result = notify_dingtalk.send(cfg, ctx)
        elif isinstance(cfg, SlackChannel):
            result = notify_slack.send(cfg, ctx)
        else:
            result = notify_email.send(cfg, ctx, self._smtp(cfg.connection))
        ctx.log.info("notify_sent", channel=result["channel"], status=result["status"])
        return result

    def _smtp(self, name: str) -> SmtpConnection:
        conn = self.resources.connection(name)
        if not isinstance(conn, SmtpConnection):
            raise PermanentError(f"connection {name!r} is not an smtp connection")
        return conn
