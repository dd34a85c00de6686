"""Outgoing mail: safe messages (stdlib ``EmailMessage``) delivered over SMTP by a durable job.

A feature builds an :class:`OutgoingMail` and calls :func:`enqueue_mail` inside the
transaction of the change that caused it, so the ``mail.send`` job exists exactly when that
change committed. The job runner delivers it with aiosmtplib and retries a failed delivery
with its backoff (5 s, 10 s, 20 s…); after the last attempt the job is *dead* and shows, with
its error, under Administration → Background jobs, where an admin retries or discards it.

Nothing a person typed reaches a header unchecked: addresses go through email-validator,
every other header value is refused when it holds a line break or another control character,
and the HTML alternative must be :class:`markupsafe.Markup` — text the caller escaped (with
:func:`text_to_html`, or ``Markup(...).format(...)``), never raw HTML from a user.

Settings: ``KEFU_SMTP_*`` and ``KEFU_MAIL_FROM`` (docs/settings.md); mail is off while
``KEFU_SMTP_HOST`` is unset. The email channel (issue 7) extends this module with inbound
mail and threading headers (``headers=`` already carries In-Reply-To and References).
"""

from __future__ import annotations

import logging
import re
import ssl
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

import aiosmtplib
from email_validator import EmailNotValidError, validate_email
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput
from kefu.platform.jobs import JobContext, JobRegistry, job
from kefu.settings import Settings, SmtpSecurity

log = logging.getLogger(__name__)

JOB_NAME = "mail.send"
MAX_ATTEMPTS = 10  # with the runner's backoff: about 40 minutes of retries, then dead
MAX_RECIPIENTS = 50
MAX_ADDRESS_CHARS = 254
MAX_SUBJECT_CHARS = 250
MAX_HEADER_CHARS = 2000
MAX_BODY_CHARS = 5_000_000
HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,59}$")
# Headers the builder writes itself; ``headers=`` may not set (or smuggle a second) one of them.
OWN_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "return-path",
    }
)
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})  # line breaks and invisible controls


@dataclass(frozen=True)
class OutgoingMail:
    """One message to send: plain text, and optionally an escaped HTML alternative."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: Markup | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. In-Reply-To, References


def require_mail(settings: Settings) -> None:
    """Refuse (409) when this installation sends no mail (``KEFU_SMTP_HOST`` unset)."""
    if not settings.mail_enabled:
        raise Conflict("Sending email is not set up on this server. Ask its administrator to set it up.")


# -- checks ------------------------------------------------------------------------------------------
def _unsafe(text: str) -> bool:
    return any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in text)


def clean_address(raw: str, *, field: str = "email") -> str:
    """One mailbox (``name@example.com``, no display name), in the ASCII form SMTP takes:
    an internationalised domain becomes punycode. Anything else is refused (422)."""
    text = raw.strip()
    if not text or len(text) > MAX_ADDRESS_CHARS or _unsafe(text):
        raise InvalidInput("Enter a valid email address.", field=field)
    try:
        valid = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise InvalidInput("Enter a valid email address.", field=field) from None
    return valid.ascii_email or valid.normalized


def clean_header(value: str, *, field: str, max_length: int = MAX_HEADER_CHARS) -> str:
    """A header value on one line: CR, LF and other control characters are refused, not stripped."""
    text = value.strip()
    if _unsafe(text):
        raise InvalidInput("Line breaks and control characters are not allowed here.", field=field)
    if len(text) > max_length:
        raise InvalidInput("Keep this under %(max)s characters.", field=field, params={"max": max_length})
    return text


def clean_mail(mail: OutgoingMail) -> OutgoingMail:
    """The message with every address and header value checked (InvalidInput when one is bad)."""
    if not mail.to or len(mail.to) > MAX_RECIPIENTS:
        raise InvalidInput(
            "A message goes to 1 to %(max)s addresses.", field="to", params={"max": MAX_RECIPIENTS}
        )
    if mail.html is not None and not isinstance(mail.html, Markup):
        raise TypeError("OutgoingMail.html must be markupsafe.Markup: escape user text, never pass raw HTML")
    if len(mail.text) > MAX_BODY_CHARS or (mail.html is not None and len(mail.html) > MAX_BODY_CHARS):
        raise InvalidInput("This message is too long to send.", field="text")
    headers: dict[str, str] = {}
    for name, value in mail.headers.items():
        if not HEADER_NAME.match(name) or name.lower() in OWN_HEADERS:
            raise InvalidInput("This header cannot be set.", field="headers")
        headers[name] = clean_header(value, field="headers")
    subject = clean_header(mail.subject, field="subject", max_length=MAX_SUBJECT_CHARS)
    if not subject:
        raise InvalidInput("A message needs a subject.", field="subject")
    to = tuple(dict.fromkeys(clean_address(address, field="to") for address in mail.to))
    return replace(mail, to=to, subject=subject, text=mail.text.replace("\r\n", "\n"), headers=headers)


def text_to_html(text: str) -> Markup:
    """Plain text as escaped HTML, line breaks kept."""
    return Markup("<br>\n").join(escape(line) for line in text.split("\n"))


# -- building -----------------------------------------------------------------------------------------
def sender(settings: Settings) -> Address:
    """``KEFU_MAIL_FROM`` as a header address (checked when the settings were read)."""
    require_mail(settings)
    assert settings.mail_from is not None  # the settings refuse a host without a sender
    name, address = parseaddr(settings.mail_from)
    return Address(display_name=name, addr_spec=address)


def new_message_id(settings: Settings) -> str:
    return make_msgid(domain=sender(settings).domain)


def _cte(text: str) -> str | None:
    # Non-ASCII text (Chinese) as base64, so no relay has to carry 8-bit data; ASCII as is.
    return None if text.isascii() else "base64"


def build_message(
    settings: Settings, mail: OutgoingMail, *, message_id: str | None = None, date: datetime | None = None
) -> EmailMessage:
    """A MIME message: UTF-8 text/plain, an HTML alternative when given, Message-ID and Date."""
    mail = clean_mail(mail)
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = [Address(addr_spec=address) for address in mail.to]
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(date or utcnow())
    message["Message-ID"] = message_id or new_message_id(settings)
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text, charset="utf-8", cte=_cte(mail.text))
    if mail.html is not None:
        html = str(mail.html)
        message.add_alternative(html, subtype="html", charset="utf-8", cte=_cte(html))
    return message


# -- sending --------------------------------------------------------------------------------------------
async def send_message(
    settings: Settings, message: EmailMessage, *, tls_context: ssl.SSLContext | None = None
) -> None:
    """Deliver one message to the SMTP server now (raises aiosmtplib's errors when it fails).

    ``tls_context``: certificates to trust instead of the system's (a private CA).
    """
    require_mail(settings)
    security = settings.smtp_security
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=password,
        use_tls=security is SmtpSecurity.tls,
        start_tls=security is SmtpSecurity.starttls,  # False: never, True: required
        timeout=settings.smtp_timeout,
        tls_context=tls_context,
    )
    log.info("mail %s sent", message["Message-ID"])


def _payload(mail: OutgoingMail, message_id: str) -> dict[str, Any]:
    return {
        "to": list(mail.to),
        "subject": mail.subject,
        "text": mail.text,
        "html": None if mail.html is None else str(mail.html),
        "headers": dict(mail.headers),
        "message_id": message_id,
        "date": utcnow().isoformat(),
    }


@job(JOB_NAME, max_attempts=MAX_ATTEMPTS)
async def send_mail(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Deliver one enqueued message; a failure raises, so the runner retries it."""
    settings: Settings = ctx.services["settings"]
    html = payload.get("html")
    mail = OutgoingMail(
        to=tuple(payload["to"]),
        subject=payload["subject"],
        text=payload["text"],
        html=None if html is None else Markup(html),  # noqa: S704  # enqueue_mail wrote it from Markup
        headers=dict(payload.get("headers") or {}),
    )
    # The same Message-ID and Date on every attempt: a retry after a lost answer is one mail.
    message = build_message(
        settings, mail, message_id=payload["message_id"], date=datetime.fromisoformat(payload["date"])
    )
    await send_message(settings, message)


async def enqueue_mail(session: AsyncSession, settings: Settings, mail: OutgoingMail) -> str:
    """Send ``mail`` once the session's transaction commits (never if it rolls back).

    Checks everything now, so a bad address fails the request rather than the job.
    Returns the Message-ID the mail will carry.
    """
    require_mail(settings)
    cleaned = clean_mail(mail)
    message_id = new_message_id(settings)
    await send_mail.enqueue(session, _payload(cleaned, message_id))
    return message_id


def register(registry: JobRegistry) -> None:
    registry.add(send_mail)
