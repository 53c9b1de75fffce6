"""E-mail through an SMTP server: composing a plain-text message, and one SMTP session.

Failures::

    connection refused / reset / timed out, server disconnected   RetryableError
    4xx reply (greylisting, mailbox busy, too many connections)   RetryableError
    5xx reply (auth failed, relay denied, message too big)        PermanentError
    TLS certificate not trusted, STARTTLS or AUTH not offered     PermanentError

When the server refuses some recipients but accepts others the mail is sent, and the refused
ones are returned. SMTP cannot deduplicate: :func:`message_id` derives a Message-ID from an
idempotency key, so that a retry after a lost reply sends the same Message-ID again, which
receivers and mail stores can use to drop the copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

from filerelay.errors import ActionError, PermanentError, RetryableError


class Secret(Protocol):
    """A value that shows itself only when asked (pydantic's ``SecretStr`` is one)."""

    def get_secret_value(self) -> str: ...


class SmtpServer(Protocol):
    """What sending needs to know of an SMTP server (an ``smtp`` connection is one)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> Secret | None: ...
    @property
    def starttls(self) -> bool: ...
    @property
    def ssl(self) -> bool: ...
    @property
    def sender(self) -> str: ...


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt of this step on this file."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8", "surrogateescape")).hexdigest()
    domain = parseaddr(sender)[1].rpartition("@")[2] or "filerelay.invalid"
    return f"<{digest[:40]}.filerelay@{domain}>"


def compose(
    sender: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    text: str,
    msg_id: str,
) -> EmailMessage:
    """A plain-text message from ``sender`` (attachments may be added to it)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = msg_id
    msg.set_content(text)
    return msg


def bare_addresses(to: Sequence[str], cc: Sequence[str]) -> list[str]:
    """The bare addresses of every recipient (``"Ops <ops@x>"`` -> ``ops@x``)."""
    return [parseaddr(a)[1] for a in (*to, *cc)]


def deliver(
    conn: SmtpServer, msg: EmailMessage, recipients: list[str], timeout_s: float
) -> dict[str, tuple[int, bytes]]:
    """Send ``msg`` in one SMTP session; the refused recipients, or raise translated errors."""
    try:
        return _deliver(conn, msg, recipients, timeout_s)
    except (smtplib.SMTPException, OSError) as exc:
        raise smtp_error(exc, conn) from exc


def _deliver(
    conn: SmtpServer, msg: EmailMessage, recipients: list[str], timeout_s: float
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


def smtp_error(exc: BaseException, conn: SmtpServer) -> ActionError:
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
