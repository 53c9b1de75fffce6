"""notify over e-mail, against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from filerelay.actions.base import Resources
from filerelay.actions.notify import NotifyAction, NotifyConfig
from filerelay.channels.mail import message_id
from filerelay.config.models import SmtpConnection
from filerelay.errors import PermanentError, RetryableError
from tests.actions.helpers import make_context, make_event, write_file
from tests.conftest import free_port, missing_service

# The AUTH test server allows login without TLS (loopback only); aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SENDER = "filerelay <bot@relay.example>"
PASSWORD = "pw-7c1e9a0b55"
DATA = b"id,value\n1,42\n"


@dataclass
class Mailbox:
    """An aiosmtpd handler that records what it accepts and refuses chosen recipients."""

    messages: list[Any] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox

    def parsed(self, index: int = 0) -> email.message.EmailMessage:
        raw = self.mailbox.messages[index].content
        return email.message_from_bytes(raw, policy=email.policy.default)


def _controller(mailbox: Mailbox, **options: Any) -> Any:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        missing_service("aiosmtpd (pip install aiosmtpd)")
    return Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A recording SMTP server on a free loopback port."""
    mailbox = Mailbox()
    controller = _controller(mailbox)
    controller.start()
    try:
        yield SmtpServer(controller.port, mailbox)
    finally:
        controller.stop()


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    ok = data.login == b"relay" and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server that wants AUTH (allowed without TLS, on loopback, for the test)."""
    mailbox = Mailbox()
    controller = _controller(
        mailbox, authenticator=_authenticator, auth_required=True, auth_require_tls=False
    )
    controller.start()
    try:
        yield SmtpServer(controller.port, mailbox)
    finally:
        controller.stop()


def resources(port: int, **conn: Any) -> Resources:
    values = {"type": "smtp", "host": "127.0.0.1", "port": port, "sender": SENDER, "timeout": 5}
    values.update(conn)
    return Resources(connections={"mail": SmtpConnection(**values)})


def send(src: Path, res: Resources, attempt: int = 1, **config: Any) -> Any:
    path = src / "in" / "data.csv"
    if not path.exists():  # the same file version on every attempt
        write_file(path, DATA)
    values = {
        "channel": "email",
        "connection": "mail",
        "to": ["Ops <ops@example.com>"],
        "subject": "[{source}] {name} arrived",
        "message": "{relpath}: {size} bytes",
    }
    values.update(config)
    action = NotifyAction(NotifyConfig.model_validate(values), res)
    ctx = make_context(make_event(path, src), res, step="0-mail", attempt=attempt)
    return action.run(ctx), ctx


def test_mail_is_rendered_and_its_message_id_comes_from_the_idempotency_key(
    smtp_server: SmtpServer, src: Path
) -> None:
    # given a recording SMTP server
    res = resources(smtp_server.port)
    # when the same step is attempted twice (a retry after a lost reply)
    first, ctx = send(src, res, cc=["audit@example.com"])
    second, _ = send(src, res, attempt=2, cc=["audit@example.com"])
    # then both mails carry the rendered subject and body and the same Message-ID
    assert first["channel"] == "email" and first["status"] == 250 and first["refused"] == []
    expected_id = message_id(ctx.idempotency_key, SENDER)
    assert first["message_id"] == second["message_id"] == expected_id
    assert expected_id.endswith("@relay.example>")
    envelope = smtp_server.mailbox.messages[0]
    assert envelope.mail_from == "bot@relay.example"
    assert envelope.rcpt_tos == ["ops@example.com", "audit@example.com"]
    mail = smtp_server.parsed()
    assert mail["Subject"] == "[src] data.csv arrived"
    assert mail["Message-ID"] == expected_id and smtp_server.parsed(1)["Message-ID"] == expected_id
    assert mail["To"] == "Ops <ops@example.com>" and mail["Cc"] == "audit@example.com"
    assert mail.get_content().strip() == "in/data.csv: 14 bytes"
    assert list(mail.iter_attachments()) == []


def test_file_is_attached_when_asked(smtp_server: SmtpServer, src: Path) -> None:
    send(src, resources(smtp_server.port), attach_file=True)
    attachments = list(smtp_server.parsed().iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_filename() == "data.csv"
    assert attachments[0].get_content_type() == "text/csv"
    assert attachments[0].get_payload(decode=True) == DATA


def test_file_above_the_attachment_cap_fails(smtp_server: SmtpServer, src: Path) -> None:
    with pytest.raises(PermanentError, match="above max_attachment_bytes"):
        send(src, resources(smtp_server.port), attach_file=True, max_attachment_bytes=10)
    assert smtp_server.mailbox.messages == []


def test_server_down_is_retryable(src: Path) -> None:
    with pytest.raises(RetryableError, match=r"smtp 127\.0\.0\.1:\d+: cannot connect"):
        send(src, resources(free_port()))


def test_temporary_refusal_is_retryable(smtp_server: SmtpServer, src: Path) -> None:
    smtp_server.mailbox.replies["ops@example.com"] = "450 4.2.1 mailbox busy"
    with pytest.raises(RetryableError, match="refused every recipient"):
        send(src, resources(smtp_server.port))


def test_permanent_refusal_is_permanent(smtp_server: SmtpServer, src: Path) -> None:
    smtp_server.mailbox.replies["ops@example.com"] = "550 5.1.1 no such user"
    with pytest.raises(PermanentError, match="refused every recipient"):
        send(src, resources(smtp_server.port))


def test_partly_refused_recipients_are_reported(smtp_server: SmtpServer, src: Path) -> None:
    smtp_server.mailbox.replies["gone@example.com"] = "550 5.1.1 no such user"
    result, _ = send(src, resources(smtp_server.port), cc=["gone@example.com"])
    assert result["refused"] == ["gone@example.com"]
    assert smtp_server.mailbox.messages[0].rcpt_tos == ["ops@example.com"]


def test_login_with_the_connection_credentials(auth_smtp_server: SmtpServer, src: Path) -> None:
    res = resources(auth_smtp_server.port, username="relay", password=PASSWORD)
    send(src, res)
    assert len(auth_smtp_server.mailbox.messages) == 1


def test_wrong_password_is_permanent_and_not_shown(auth_smtp_server: SmtpServer, src: Path) -> None:
    res = resources(auth_smtp_server.port, username="relay", password="wrong-password-1")
    with pytest.raises(PermanentError, match="replied 535") as info:
        send(src, res)
    assert "wrong-password-1" not in str(info.value)
    assert auth_smtp_server.mailbox.messages == []


def test_starttls_to_an_untrusted_certificate_is_permanent(tmp_path: Path, src: Path) -> None:
    # given an SMTP server offering STARTTLS with a self-signed certificate
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(cert), str(key))
    mailbox = Mailbox()
    controller = _controller(mailbox, tls_context=tls)
    controller.start()
    try:
        # when the connection asks for STARTTLS, then the untrusted certificate fails for good
        with pytest.raises(PermanentError, match="TLS certificate not trusted"):
            send(src, resources(controller.port, starttls=True))
    finally:
        controller.stop()
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"to": []}, "at least 1 item"),
        ({"to": ["not-an-address"]}, "is not an e-mail address"),
        ({"to": ["a@b.c\r\nBcc: x@y.z"]}, "is not an e-mail address"),
        ({"subject": "{oops}"}, "unknown field"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    values = {"channel": "email", "connection": "mail", "to": ["a@b.c"], "message": "m"}
    values.update(config)
    with pytest.raises(ValidationError, match=message):
        NotifyConfig.model_validate(values)
