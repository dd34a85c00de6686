"""Outgoing mail against a real SMTP server (aiosmtpd on a loopback port, no mocks): UTF-8
messages that arrive intact, header injection refused, STARTTLS with login and implicit TLS,
and the durable ``mail.send`` job that retries while the server is down, then delivers once.

:class:`SmtpSink` is also used by the transcript tests (``tests/web_chat``, ``tests/browser``).
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from markupsafe import Markup
from sqlalchemy import select, update

from kefu.accounts.access import Role
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput
from kefu.platform.jobs import Job, JobStatus
from kefu.platform.kernel import Kernel
from kefu.platform.mail import (
    MAX_ATTEMPTS,
    OutgoingMail,
    build_message,
    clean_address,
    enqueue_mail,
    send_message,
    text_to_html,
)
from kefu.settings import ConfigurationError, Settings
from tests.conftest import make_settings
from tests.factories import Factory
from tests.live import free_port

SENDER = "星辰家电客服 <support@example.com>"

# A self-signed certificate for 127.0.0.1 and localhost (valid until 2126), made for these
# tests only with: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
# -days 36500 -subj "/CN=kefu test SMTP" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"
TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIBpTCCAUugAwIBAgIUd7vECUluNCmqgansHNhBxdQngsYwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOa2VmdSB0ZXN0IFNNVFAwIBcNMjYxMTIzMTU1NjIzWhgPMjEy
NjEwMzAxNTU2MjNaMBkxFzAVBgNVBAMMDmtlZnUgdGVzdCBTTVRQMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEk6iKcHd4GC1az60BiWMCt+40cgJcI9XqkcslJnry
i+1xqK5rcySZn+ellPH+wahNwvmzesx6L3a2MW56nCueZKNvMG0wHQYDVR0OBBYE
FLbWCx3CYmgxCTpbIss5SZ6xRKDTMB8GA1UdIwQYMBaAFLbWCx3CYmgxCTpbIss5
SZ6xRKDTMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYcEfwAAAYIJbG9jYWxo
b3N0MAoGCCqGSM49BAMCA0gAMEUCIBnmvn+bHXsqAYhKr9sgcEUrb5se8BgHuYOY
yFvrN6AxAiEA3kb18Yv1BYIlyB91JEhYfBYIRBjPPhtmXw4rvQBWv2k=
-----END CERTIFICATE-----
"""
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKwf4JTL03o6vA8vl
uwPjbt5csZ1MFbFfxQ8yd/rGxPWhRANCAASTqIpwd3gYLVrPrQGJYwK37jRyAlwj
1eqRyyUmevKL7XGormtzJJmf56WU8f7BqE3C+bN6zHovdrYxbnqcK55k
-----END PRIVATE KEY-----
"""


# -- a real SMTP server ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    """One mail as the server got it: envelope, raw bytes, and how the session was secured."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    authenticated: bool

    def message(self) -> EmailMessage:
        # SMTP carries CRLF line ends; a mail client reads lines, as here.
        parsed = message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def text(self) -> str:
        part = self.message().get_body(("plain",))
        assert part is not None, "no text/plain part"
        content: str = part.get_content()  # type: ignore[attr-defined]  # a MIMEPart under policy.default
        return content

    def html(self) -> str:
        part = self.message().get_body(("html",))
        assert part is not None, "no text/html part"
        content: str = part.get_content()  # type: ignore[attr-defined]  # a MIMEPart under policy.default
        return content


@dataclass
class SmtpSink:
    """aiosmtpd on a loopback port, in its own thread: keeps every mail it accepts.

    ``smtp`` goes to aiosmtpd's SMTP class (tls_context, require_starttls, authenticator…);
    ``implicit_tls`` wraps the whole connection in TLS (port 465 style).
    """

    port: int = field(default_factory=free_port)
    smtp: dict[str, Any] = field(default_factory=dict)
    implicit_tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    _controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # aiosmtpd's hook
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or b""),
                # STARTTLS sets session.ssl; with implicit TLS the socket itself is encrypted.
                tls=session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, ssl_context=self.implicit_tls, **self.smtp
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def wait(self, count: int = 1, *, within: float = 15) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the SMTP server got {len(self.received)} mails, not {count}")
            await asyncio.sleep(0.05)
        return self.received


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def mail_settings(tmp_path: Path, db_url: str, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"smtp_host": "127.0.0.1", "smtp_port": port, "mail_from": SENDER}
    values.update(overrides)
    return make_settings(tmp_path / "data", db_url, **values)


def server_tls() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:  # ssl loads a key from files only
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert.write_text(TEST_CERT)
        key.write_text(TEST_KEY)
        context.load_cert_chain(cert, key)
    return context


def trusting_test_cert() -> ssl.SSLContext:
    return ssl.create_default_context(cadata=TEST_CERT)


# -- building and sending --------------------------------------------------------------------------
async def test_a_chinese_message_arrives_intact_with_an_escaped_html_part(
    tmp_path: Path, db_url: str, smtp: SmtpSink
) -> None:
    settings = mail_settings(tmp_path, db_url, smtp.port)
    text = "您好，李雷：\n您的订单 #2026 已发货。\n<script>alert('x')</script>"
    mail = OutgoingMail(
        to=("li.lei@example.com",),
        subject="聊天记录 KF-10001 — 星辰家电",
        text=text,
        html=Markup("<p>{}</p>").format(text_to_html(text)),
    )
    built = build_message(settings, mail)
    await send_message(settings, built)

    [got] = await smtp.wait(1)
    assert got.mail_from == "support@example.com"
    assert got.rcpt_tos == ["li.lei@example.com"]
    raw = got.data.decode("ascii")  # every header and part travels as 7-bit ASCII
    assert "聊天记录" not in raw  # encoded (RFC 2047 / base64), so any relay passes it on
    message = got.message()
    assert message["Subject"] == "聊天记录 KF-10001 — 星辰家电"
    assert parseaddr(str(message["From"])) == ("星辰家电客服", "support@example.com")
    assert message["To"] == "li.lei@example.com"
    assert message["Message-ID"] == built["Message-ID"]
    assert str(message["Message-ID"]).endswith("@example.com>")
    assert abs((parsedate_to_datetime(str(message["Date"])) - utcnow()).total_seconds()) < 60
    assert message.get_content_type() == "multipart/alternative"
    assert got.text() == text + "\n"
    html = got.html()
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    assert f"<p>您好，李雷：<br>\n您的订单 #2026 已发货。<br>\n{escaped}</p>" in html
    assert "<script>" not in html


async def test_a_text_only_message_has_no_html_part(tmp_path: Path, db_url: str, smtp: SmtpSink) -> None:
    settings = mail_settings(tmp_path, db_url, smtp.port)
    await send_message(settings, build_message(settings, OutgoingMail(("a@example.com",), "Hello", "Plain.")))
    [got] = await smtp.wait(1)
    assert got.message().get_content_type() == "text/plain"
    assert got.text() == "Plain.\n"


@pytest.mark.parametrize(
    ("mail", "field"),
    [
        (OutgoingMail(("victim@example.com\r\nBcc: many@example.com",), "Hi", "x"), "to"),
        (OutgoingMail(("victim@example.com\nBcc: many@example.com",), "Hi", "x"), "to"),
        (OutgoingMail(("Boss <boss@example.com>",), "Hi", "x"), "to"),
        (OutgoingMail(("no-at-sign",), "Hi", "x"), "to"),
        (OutgoingMail((), "Hi", "x"), "to"),
        (OutgoingMail(("a@example.com",), "Hi\r\nBcc: many@example.com", "x"), "subject"),
        (OutgoingMail(("a@example.com",), "Hi\u2028Bcc: many@example.com", "x"), "subject"),
        (OutgoingMail(("a@example.com",), "   ", "x"), "subject"),
        (
            OutgoingMail(("a@example.com",), "Hi", "x", headers={"In-Reply-To": "<a@b>\r\nBcc: c@d"}),
            "headers",
        ),
        (OutgoingMail(("a@example.com",), "Hi", "x", headers={"Bcc": "many@example.com"}), "headers"),
        (OutgoingMail(("a@example.com",), "Hi", "x", headers={"X-Bad Name": "1"}), "headers"),
    ],
)
async def test_header_injection_and_bad_addresses_are_refused(
    tmp_path: Path, db_url: str, smtp: SmtpSink, mail: OutgoingMail, field: str
) -> None:
    settings = mail_settings(tmp_path, db_url, smtp.port)
    with pytest.raises(InvalidInput) as refused:
        build_message(settings, mail)
    assert [e["field"] for e in refused.value.errors] == [field]
    assert smtp.received == []


def test_html_must_be_escaped_markup(tmp_path: Path) -> None:
    settings = Settings(smtp_host="127.0.0.1", mail_from=SENDER, data_dir=tmp_path)
    raw = OutgoingMail(("a@example.com",), "Hi", "x", html="<b>raw</b>")  # type: ignore[arg-type]  # the point
    with pytest.raises(TypeError, match="Markup"):
        build_message(settings, raw)


def test_addresses_are_normalised_to_what_smtp_takes() -> None:
    assert clean_address("  Li.Lei@Example.COM ") == "Li.Lei@example.com"
    assert clean_address("kefu@例子.中国") == "kefu@xn--fsqu00a.xn--fiqs8s"
    with pytest.raises(InvalidInput):
        clean_address("李雷@example.com")  # a non-ASCII mailbox needs SMTPUTF8: refused


async def test_threading_headers_pass_through(tmp_path: Path, db_url: str, smtp: SmtpSink) -> None:
    settings = mail_settings(tmp_path, db_url, smtp.port)
    mail = OutgoingMail(
        ("a@example.com",), "Re: 订单", "ok", headers={"In-Reply-To": "<1@x>", "References": "<0@x> <1@x>"}
    )
    await send_message(settings, build_message(settings, mail))
    [got] = await smtp.wait(1)
    assert got.message()["In-Reply-To"] == "<1@x>"
    assert got.message()["References"] == "<0@x> <1@x>"


# -- TLS and login ---------------------------------------------------------------------------------
def _accept(login: bytes, password: bytes) -> Any:
    def authenticator(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (login, password)
        return AuthResult(success=ok, handled=False)

    return authenticator


async def test_starttls_then_login(tmp_path: Path, db_url: str) -> None:
    sink = SmtpSink(
        smtp={
            "tls_context": server_tls(),
            "require_starttls": True,
            "auth_required": True,
            "authenticator": _accept(b"kefu", "密码-s3cret".encode()),
        }
    ).start()
    try:
        settings = mail_settings(
            tmp_path,
            db_url,
            sink.port,
            smtp_security="starttls",
            smtp_username="kefu",
            smtp_password="密码-s3cret",
        )
        message = build_message(settings, OutgoingMail(("a@example.com",), "安全", "加密传输"))
        await send_message(settings, message, tls_context=trusting_test_cert())
        [got] = await sink.wait(1)
        assert got.tls
        assert got.authenticated
        assert got.text() == "加密传输\n"

        # A wrong password is refused by the server (and raised, so a job would retry).
        wrong = mail_settings(
            tmp_path, db_url, sink.port, smtp_security="starttls", smtp_username="kefu", smtp_password="nope"
        )
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await send_message(wrong, message, tls_context=trusting_test_cert())
        # A certificate nobody vouches for is refused by kefu.
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            await send_message(settings, message)
        assert len(sink.received) == 1
    finally:
        sink.stop()


async def test_implicit_tls(tmp_path: Path, db_url: str) -> None:
    sink = SmtpSink(implicit_tls=server_tls()).start()
    try:
        settings = mail_settings(tmp_path, db_url, sink.port, smtp_security="tls")
        await send_message(
            settings,
            build_message(settings, OutgoingMail(("a@example.com",), "TLS", "ok")),
            tls_context=trusting_test_cert(),
        )
        [got] = await sink.wait(1)
        assert got.tls
        # Plain SMTP to a TLS port gets nowhere: nothing is ever sent unencrypted there.
        plain = mail_settings(tmp_path, db_url, sink.port, smtp_timeout=2)
        with pytest.raises(aiosmtplib.SMTPException):
            await send_message(plain, build_message(plain, OutgoingMail(("a@example.com",), "TLS", "ok")))
        assert len(sink.received) == 1
    finally:
        sink.stop()


def test_mail_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="KEFU_MAIL_FROM is required"):
        Settings(data_dir=tmp_path, smtp_host="smtp.example.com")
    with pytest.raises(ValueError, match="KEFU_MAIL_FROM"):
        Settings(data_dir=tmp_path, smtp_host="smtp.example.com", mail_from="kefu <nobody>")
    with pytest.raises(ValueError, match="KEFU_MAIL_FROM"):
        Settings(data_dir=tmp_path, mail_from="a@example.com\r\nBcc: b@example.com")
    with pytest.raises(ConfigurationError, match="starttls or tls") as refused:
        Settings(
            data_dir=tmp_path,
            smtp_host="smtp.example.com",
            mail_from=SENDER,
            smtp_username="u",
            smtp_password="p4ss",
        )
    assert "p4ss" not in str(refused.value)
    with pytest.raises(ConfigurationError, match="both"):
        Settings(data_dir=tmp_path, smtp_username="u")
    secured = Settings(
        data_dir=tmp_path,
        smtp_host="smtp.example.com",
        mail_from=SENDER,
        smtp_security="tls",
        smtp_port=465,
        smtp_username="u",
        smtp_password="p4ss-word",
    )
    assert secured.mail_enabled
    assert "p4ss-word" not in repr(secured)
    assert not Settings(data_dir=tmp_path).mail_enabled


# -- the durable job -------------------------------------------------------------------------------
PORT = free_port()  # nothing listens here until a test starts a server on it


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The app of these tests sends to PORT, where the tests start (or do not start) a server."""
    return mail_settings(tmp_path, db_url, PORT)


async def _jobs(kernel: Kernel) -> list[Job]:
    async with kernel.db.reader() as session:
        return list(await session.scalars(select(Job).where(Job.name == "mail.send").order_by(Job.id)))


async def _make_due(kernel: Kernel) -> None:
    async with kernel.db.transaction() as session:
        await session.execute(update(Job).where(Job.status == JobStatus.queued).values(run_at=utcnow()))


async def test_the_job_retries_while_the_server_is_down_then_delivers_once(kernel: Kernel) -> None:
    async def enqueue_then_roll_back() -> None:
        async with kernel.db.transaction() as session:
            await enqueue_mail(session, kernel.settings, OutgoingMail(("a@example.com",), "lost", "x"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await enqueue_then_roll_back()
    async with kernel.db.transaction() as session:
        message_id = await enqueue_mail(
            session, kernel.settings, OutgoingMail(("li.lei@example.com",), "您的聊天记录", "你好")
        )
    assert await kernel.runner.run_pending() == 1
    [job] = await _jobs(kernel)  # the rolled-back one never existed
    assert job.status == JobStatus.queued
    assert job.attempts == 1
    assert job.run_at > utcnow()  # it waits (backoff) before trying again
    assert job.last_error is not None
    assert "SMTPConnectError" in job.last_error

    sink = SmtpSink(port=PORT).start()
    try:
        assert await kernel.runner.run_pending() == 0  # not due yet
        await _make_due(kernel)
        assert await kernel.runner.run_pending() == 1
        [got] = await sink.wait(1)
        assert got.rcpt_tos == ["li.lei@example.com"]
        assert got.message()["Message-ID"] == message_id
        assert got.message()["Subject"] == "您的聊天记录"
        [job] = await _jobs(kernel)
        assert job.status == JobStatus.done
        assert job.attempts == 2
    finally:
        sink.stop()


async def test_a_mail_that_never_gets_through_is_a_dead_job_admins_see(
    kernel: Kernel, client: httpx.AsyncClient, factory: Factory
) -> None:
    async with kernel.db.transaction() as session:
        await enqueue_mail(session, kernel.settings, OutgoingMail(("a@example.com",), "x", "x"))
    for _ in range(MAX_ATTEMPTS):
        await _make_due(kernel)
        await kernel.runner.run_pending()
    [job] = await _jobs(kernel)
    assert job.status == JobStatus.dead
    assert job.attempts == MAX_ATTEMPTS
    await factory.login(client, await factory.user(Role.admin))
    page = await client.get("/admin/jobs?status=dead")
    assert page.status_code == 200
    assert "mail.send" in page.text
    assert "SMTPConnectError" in page.text


async def test_no_host_means_no_mail(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path / "data", db_url)
    assert not settings.mail_enabled
    with pytest.raises(Conflict):
        build_message(settings, OutgoingMail(("a@example.com",), "x", "x"))
    with pytest.raises(Conflict):
        await send_message(settings, EmailMessage())
