"""``notify`` channel ``email``: a message through an ``smtp`` connection, optionally with
the file attached.

SMTP cannot deduplicate, so the ``Message-ID`` is derived from the step's idempotency key: a
retry after a lost reply sends the same Message-ID again, which receivers and mail stores can
use to drop the copy. Failures::

    connection refused / reset / timed out, server disconnected   RetryableError
    4xx reply (greylisting, mailbox busy, too many connections)   RetryableError
    5xx reply (auth failed, relay denied, message too big)        PermanentError
    TLS certificate not trusted, STARTTLS or AUTH not offered     PermanentError

When the server refuses some recipients but accepts others the mail is sent, and the result
lists the refused ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from filerelay.actions.base import ActionContext
from filerelay.actions.fs import ops as fsops
from filerelay.config.models import SmtpConnection
from filerelay.config.types import SizeBytes, TemplateStr
from filerelay.errors import ActionError, PermanentError, RetryableError
from filerelay.model import JSONDict

MiB = 1024 * 1024
SENT = 250


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


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt of this step on this file."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8", "surrogateescape")).hexdigest()
    domain = parseaddr(sender)[1].rpartition("@")[2] or "filerelay.invalid"
    return f"<{digest[:40]}.filerelay@{domain}>"


def build_message(cfg: EmailChannel, ctx: ActionContext, conn: SmtpConnection) -> EmailMessage:
    """The message for this file (with the file attached when asked)."""
    msg = EmailMessage()
    msg["From"] = conn.sender
    msg["To"] = ", ".join(cfg.to)
    if cfg.cc:
        msg["Cc"] = ", ".join(cfg.cc)
    msg["Subject"] = " ".join(ctx.render(cfg.subject).split())
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id(ctx.idempotency_key, conn.sender)
    msg.set_content(ctx.render(cfg.message))
    if cfg.attach_file:
        _attach(msg, cfg, ctx)
    return msg


def _attach(msg: EmailMessage, cfg: EmailChannel, ctx: ActionContext) -> None:
    ctx.check_unchanged()
    if ctx.event.size > cfg.max_attachment_bytes:
        raise PermanentError(
            f"file is {ctx.event.size} bytes, above max_attachment_bytes "
            f"({cfg.max_attachment_bytes}): not attached to the e-mail"
        )
    try:
        with open(ctx.path, "rb") as fh:
            data = fh.read(cfg.max_attachment_bytes + 1)
    except OSError as exc:
        raise fsops.source_error(exc, ctx.path) from exc
    if len(data) != ctx.event.size:
        raise PermanentError(f"file changed since it was declared stable: {ctx.path}")
    name = ctx.template_values()["name"]
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    maintype, _, subtype = kind.partition("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


def send(cfg: EmailChannel, ctx: ActionContext, conn: SmtpConnection) -> JSONDict:
    """Build and send the message; raise translated errors."""
    msg = build_message(cfg, ctx, conn)
    recipients = [parseaddr(a)[1] for a in (*cfg.to, *cfg.cc)]
    refused = deliver(conn, msg, recipients, min(conn.timeout, ctx.timeout_s))
    return {
        "channel": "email",
        "status": SENT,
        "message_id": msg["Message-ID"],
        "refused": sorted(refused),
    }


def deliver(
    conn: SmtpConnection, msg: EmailMessage, recipients: list[str], timeout_s: float
) -> dict[str, tuple[int, bytes]]:
    """Send ``msg`` in one SMTP session; the refused recipients, or raise translated errors.
    Used by the action and by alert channels."""
    try:
        return _deliver(conn, msg, recipients, timeout_s)
    except (smtplib.SMTPException, OSError) as exc:
        raise smtp_error(exc, conn) from exc


def _deliver(
    conn: SmtpConnection, msg: EmailMessage, recipients: list[str], timeout_s: float
) -> dict[str, tuple[int, bytes]]:
    """One SMTP session: connect, STARTTLS and login as configured, send, quit."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if conn.ssl:
        smtp = smtplib.SMTP_SSL(conn.host, conn.port, timeout=timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(conn.host, conn.port, timeout=timeout_s)
    try:
        if conn.starttls and not conn.ssl:
            smtp.starttls(context=context)
        if conn.username:
            password = conn.password.get_secret_value() if conn.password else ""
            smtp.login(conn.username, password)
        refused = smtp.send_message(msg, from_addr=parseaddr(conn.sender)[1], to_addrs=recipients)
        # The message was accepted: a failed goodbye must not make a retry send it twice.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        return refused
    finally:
        smtp.close()


def smtp_error(exc: BaseException, conn: SmtpConnection) -> ActionError:
    """The filerelay error for an smtplib or socket failure talking to ``conn``."""
    where = f"smtp {conn.host}:{conn.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        text = f"{where} refused every recipient ({', '.join(map(str, sorted(set(codes))))})"
        return RetryableError(text) if all(400 <= c < 500 for c in codes) else PermanentError(text)
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        text = f"{where} replied {exc.smtp_code} {' '.join(reply.split())}"
        return RetryableError(text) if 400 <= exc.smtp_code < 500 else PermanentError(text)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return RetryableError(f"{where}: server disconnected")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(f"{where}: TLS certificate not trusted ({exc.verify_message})")
    if isinstance(exc, smtplib.SMTPException):
        return PermanentError(f"{where}: {exc}")
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return RetryableError(f"{where}: cannot connect ({reason})")
