"""Chat transcripts by email (SPEC A1): a visitor asks for a conversation's history in their mailbox.

``POST /api/v1/widget/conversations/{id}/transcript`` with ``{"email": "..."}`` answers 202:
in the same transaction it renders every public message up to that moment (never an internal
note; bot and system lines included; edited messages as they read now), enqueues the
``mail.send`` job (:mod:`kefu.platform.mail`) and posts a system line "Transcript emailed to …"
into the conversation, so agents see the request. The job delivers the mail and retries when the
SMTP server is away.

Limits: at most :data:`PER_CONVERSATION` requests per conversation per hour (counted in the
database, so they hold across nodes and restarts), and :data:`PER_RECIPIENT` mails per
address per hour on each node (kefu must not become a tool to flood someone's mailbox).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from markupsafe import Markup
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.admin import get_workspace_settings
from kefu.channels.web_chat import queries
from kefu.channels.web_chat.limits import TokenBucket
from kefu.channels.web_chat.visitors import CurrentVisitor, VisitorPrincipal
from kefu.conversations import (
    Author,
    AuthorKind,
    Conversation,
    Message,
    MessageView,
    display_number,
    messages_before,
    post_message,
)
from kefu.platform import i18n
from kefu.platform.api import ApiModel, PathId, SafeStr, problems
from kefu.platform.db import utcnow
from kefu.platform.errors import RateLimited
from kefu.platform.i18n import gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.mail import OutgoingMail, clean_address, enqueue_mail, require_mail, text_to_html
from kefu.settings import Settings

PREFIX = "/api/v1/widget"
TRANSCRIPT_KIND = "transcript"  # meta kind of the conversation's "Transcript emailed to …" line
PER_CONVERSATION = 3  # requests per conversation…
WINDOW = timedelta(hours=1)  # …in this window
PER_RECIPIENT = 5  # mails to one address per hour, per node
MAX_MESSAGES = 1000  # the latest ones; a longer chat says that earlier ones are left out
RECIPIENT_LIMITER_KEY = "web_chat.transcript_recipients"

router = APIRouter(prefix=PREFIX, tags=["web chat visitors"], responses=problems(401, 403, 404, 422))


class TranscriptIn(ApiModel):
    email: Annotated[SafeStr, Field(max_length=254, description="Where to send the transcript.")]
    locale: Literal["zh_CN", "en"] | None = Field(
        None, description="Language of the mail; default: the widget's, else the browser's (Accept-Language)."
    )


class TranscriptOut(BaseModel):
    email: str = Field(description="The address the transcript goes to, as it will be used.")
    status: Literal["queued"] = Field("queued", description="The mail is queued; it is sent within moments.")


def recipient_limiter(kernel: Kernel) -> TokenBucket:
    """This kernel's per-address buckets (created on first use, like the send limiter)."""
    found = kernel.services.get(RECIPIENT_LIMITER_KEY)
    if not isinstance(found, TokenBucket):
        found = TokenBucket(PER_RECIPIENT, PER_RECIPIENT / WINDOW.total_seconds())
        kernel.services[RECIPIENT_LIMITER_KEY] = found
    return found


def _address_key(email: str) -> int:
    return int.from_bytes(hashlib.sha256(email.lower().encode()).digest()[:8], "big")


@router.post(
    "/conversations/{conversation_id}/transcript",
    response_model=TranscriptOut,
    status_code=202,
    responses=problems(409, 429),
    summary="Email the conversation's transcript to the visitor",
    description="Queues a mail with every message of the conversation so far (internal notes never). "
    f"At most {PER_CONVERSATION} requests per conversation per hour. 409 when this server sends no mail "
    "(the session's `transcript_by_email` is false).",
)
async def email_transcript(
    kernel: KernelDep, visitor: CurrentVisitor, conversation_id: PathId, body: TranscriptIn
) -> TranscriptOut:
    require_mail(kernel.settings)
    email = clean_address(body.email)
    async with kernel.db.transaction() as session:
        widget = await queries.active_widget(session, visitor.widget_id)
        locale = body.locale or (widget.locale if widget.locale in i18n.LOCALES else i18n.get_locale())
        await request_transcript(
            session,
            kernel.settings,
            visitor,
            conversation_id,
            email=email,
            locale=locale,
            recipients=recipient_limiter(kernel),
        )
    return TranscriptOut(email=email)


# -- the service ----------------------------------------------------------------------------------------
async def request_transcript(
    session: AsyncSession,
    settings: Settings,
    visitor: VisitorPrincipal,
    conversation_id: int,
    *,
    email: str,
    locale: str,
    recipients: TokenBucket,
) -> None:
    """Queue the transcript mail of one of the visitor's conversations and note it in the chat."""
    conversation = await queries.owned_conversation(session, visitor, conversation_id)
    # The row lock makes two requests at once (two nodes) count each other; SQLite writers
    # are serialised anyway. It also fixes "up to now": the last number at the request.
    up_to_seq = await session.scalar(
        select(Conversation.last_seq).where(Conversation.id == conversation.id).with_for_update()
    )
    _check_conversation_limit(await _recent_requests(session, conversation.id))
    wait = recipients.take(_address_key(email))
    if wait is not None:
        raise RateLimited(
            "Too many transcripts were sent to this address. Try again in %(minutes)s minutes.",
            retry_after=wait,
            params={"minutes": math.ceil(wait / 60)},
        )
    mail = await build_transcript(
        session, conversation.id, up_to_seq=up_to_seq or 0, email=email, locale=locale
    )
    await enqueue_mail(session, settings, mail)
    # A system line (the visitor sees it too, as the confirmation): conversations accept
    # internal notes from agents only.
    await post_message(
        session,
        conversation.id,
        author=Author.system(),
        body=f"Transcript emailed to {email}",
        meta={"kind": TRANSCRIPT_KIND, "to": email},
    )


async def _recent_requests(session: AsyncSession, conversation_id: int) -> list[datetime]:
    since = utcnow() - WINDOW
    rows = await session.execute(
        select(Message.created_at, Message.meta).where(
            Message.conversation_id == conversation_id,
            Message.author_kind == AuthorKind.system.value,
            Message.created_at >= since,
        )
    )
    return [created for created, meta in rows.all() if (meta or {}).get("kind") == TRANSCRIPT_KIND]


def _check_conversation_limit(recent: Sequence[datetime]) -> None:
    if len(recent) < PER_CONVERSATION:
        return
    wait = max(1, math.ceil((min(recent) + WINDOW - utcnow()).total_seconds()))
    raise RateLimited(
        "You asked for this transcript %(count)s times this hour. Try again in %(minutes)s minutes.",
        retry_after=wait,
        params={"count": len(recent), "minutes": math.ceil(wait / 60)},
    )


# -- the mail -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One message of the transcript, in the reader's language."""

    head: str  # "[2026-11-23 14:05] 您："
    body: str
    attachments: tuple[str, ...]


def _author_label(view: MessageView) -> str:
    if view.author_kind == AuthorKind.agent.value:
        return view.author_name or gettext("Service")
    if view.author_kind == AuthorKind.bot.value:
        return view.author_name or gettext("Bot")
    return gettext("System")


def _body(view: MessageView) -> str:
    if view.deleted_at is not None:
        return gettext("This message was deleted.")
    if view.author_kind == AuthorKind.system.value:
        # System lines are stored in English: the known kinds are told in the reader's language.
        if view.kind == "transfer":
            return gettext("Conversation transferred")
        if view.kind == TRANSCRIPT_KIND:
            return gettext("Transcript emailed to %(email)s", email=str(view.meta.get("to", "")))
    if view.edited_at is not None:
        return f"{view.body} ({gettext('edited')})"
    return view.body


def _line(view: MessageView, tz: ZoneInfo) -> Line:
    time = f"{view.created_at.astimezone(tz):%Y-%m-%d %H:%M}"
    if view.author_kind == AuthorKind.customer.value:
        head = gettext("[%(time)s] You:", time=time)
    else:
        head = gettext("[%(time)s] %(author)s:", time=time, author=_author_label(view))
    files = () if view.deleted_at is not None else tuple(str(a["filename"]) for a in view.attachments)
    return Line(head, _body(view), files)


async def build_transcript(
    session: AsyncSession, conversation_id: int, *, up_to_seq: int, email: str, locale: str
) -> OutgoingMail:
    """The transcript mail: messages numbered up to ``up_to_seq``, notes never, in ``locale``."""
    workspace = await get_workspace_settings(session)
    views = await messages_before(
        session, conversation_id, before_seq=up_to_seq + 1, include_notes=False, limit=MAX_MESSAGES + 1
    )
    truncated = len(views) > MAX_MESSAGES
    views = views[-MAX_MESSAGES:]
    previous = i18n.get_locale()
    i18n.set_locale(locale)
    try:
        return _render(
            [_line(view, workspace.tz) for view in views],
            email=email,
            number=display_number(conversation_id),
            workspace=" ".join(workspace.name.split()),
            timezone=str(workspace.tz),
            truncated=truncated,
            lang=i18n.html_lang(locale),
        )
    finally:
        i18n.set_locale(previous)


_HTML_PAGE = Markup(
    '<!doctype html>\n<html lang="{lang}">\n<head><meta charset="utf-8"><title>{subject}</title></head>\n'
    "<body style=\"font-family: -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif; "
    'color: #1f2328; line-height: 1.5;">\n'
    "<p>{intro}</p>\n"
    '<p style="color: #59636e; font-size: 13px;">{notes}</p>\n'
    "{lines}\n"
    '<p style="color: #59636e; font-size: 12px; margin-top: 24px;">{footer}</p>\n'
    "</body>\n</html>\n"
)
_HTML_LINE = Markup(
    '<div style="margin: 12px 0; padding: 6px 12px; border-left: 3px solid #d8dee4;">\n'
    '<div style="color: #59636e; font-size: 13px;"><strong>{head}</strong></div>\n'
    "<div>{body}</div>{files}\n</div>"
)
_HTML_FILE = Markup('\n<div style="font-size: 13px;">📎 {name}</div>')


def _render(
    lines: list[Line],
    *,
    email: str,
    number: str,
    workspace: str,
    timezone: str,
    truncated: bool,
    lang: str,
) -> OutgoingMail:
    subject = gettext("Chat transcript %(number)s — %(workspace)s", number=number, workspace=workspace)
    intro = gettext(
        "Here is the transcript of your chat %(number)s with %(workspace)s.",
        number=number,
        workspace=workspace,
    )
    notes = [gettext("Times are in the %(timezone)s time zone.", timezone=timezone)]
    if truncated:
        notes.append(gettext("Only the latest %(count)s messages are included.", count=MAX_MESSAGES))
    footer = gettext(
        "This email was sent to %(email)s because it was asked for in the chat. "
        "If that was not you, you can ignore it.",
        email=email,
    )
    text_parts = [intro, " ".join(notes), ""]
    for line in lines:
        text_parts.append(line.head)
        if line.body:
            text_parts.append(line.body)
        text_parts.extend(gettext("Attachment: %(name)s", name=name) for name in line.attachments)
        text_parts.append("")
    text_parts += ["—", footer, ""]
    html_lines = Markup("\n").join(
        _HTML_LINE.format(
            head=line.head,
            body=text_to_html(line.body),
            files=Markup("").join(_HTML_FILE.format(name=name) for name in line.attachments),
        )
        for line in lines
    )
    html = _HTML_PAGE.format(
        lang=lang, subject=subject, intro=intro, notes=" ".join(notes), lines=html_lines, footer=footer
    )
    return OutgoingMail(to=(email,), subject=subject, text="\n".join(text_parts), html=html)
