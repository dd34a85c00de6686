"""Writes of the web chat channel: widgets (admin) and what visitors start (conversations, 留言).

Messages themselves go through :func:`kefu.conversations.post_message`, like every channel's.
"""

from __future__ import annotations

import math
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Team
from kefu.calendars import Calendar
from kefu.channels.web_chat.models import Widget
from kefu.channels.web_chat.queries import active_conversation, owned_conversation
from kefu.channels.web_chat.visitors import (
    ANONYMOUS,
    IDENTIFIED,
    MAX_USER_ID_CHARS,
    VisitorPrincipal,
    check_user_hash,
)
from kefu.conversations import (
    Author,
    AuthorKind,
    Channel,
    Conversation,
    ConversationUpdated,
    Message,
    MessageView,
    Posted,
    Status,
    get_contact,
    messages_before,
    open_conversation,
    post_message,
    resolve_contact,
)
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RateLimited
from kefu.platform.events import record_event
from kefu.platform.i18n import N_
from kefu.platform.validation import clean_name, clean_text

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
PHONE = re.compile(r"^\+?[0-9][0-9 \-()]{4,30}$")
CALLBACK_PHONE = re.compile(r"^\+?[0-9 \-]+$")  # a callback number: digits, +, spaces and dashes
CALLBACK_DIGITS = (5, 20)
MAX_PREFERRED_TIME = 100
CALLBACKS_PER_WINDOW = 3  # callback requests per conversation…
CALLBACK_WINDOW = timedelta(hours=1)  # …in this window
CALLBACK_KIND = "callback"  # meta kind of the "Callback requested: …" line
OFFLINE_KIND = "offline"  # meta kind of the "Left a message; reply by email to …" line
POSITIONS = ("right", "left")
WIDGET_LOCALES = ("auto", "zh_CN", "en")
FIELD_TYPES = ("text", "email", "tel", "textarea", "select")
CONTACT_FIELDS = ("name", "email", "phone")  # pre-chat fields that fill the contact's own details
MAX_FIELDS = 10
MAX_OPTIONS = 20
MAX_ORIGINS = 20
MAX_TEXT = 1000
MAX_FIELD_VALUE = 500
AUTO_REPLY_EVERY = timedelta(minutes=10)
AUTO_REPLY_LOOKBACK = 50  # messages searched for the last auto-reply
AUTO_REPLY_KIND = "auto_reply"
WELCOME_KIND = "welcome"

DEFAULT_FIELDS: list[dict[str, Any]] = [
    {"name": "name", "label": N_("Your name"), "type": "text", "required": True},
    {"name": "email", "label": N_("Email"), "type": "email", "required": False},
]


@dataclass(frozen=True)
class WidgetValues:
    """Everything an admin sets on a widget (the key and identity secret are made by kefu)."""

    name: str
    title: str
    queue_id: int | None = None
    calendar_id: int | None = None
    color: str = "#1f6feb"
    position: str = "right"
    locale: str = "auto"
    welcome_message: str = ""
    away_message: str = ""
    offline_message: str = ""
    prechat_enabled: bool = False
    prechat_fields: list[dict[str, Any]] = field(default_factory=list)
    require_identity: bool = False
    allowed_origins: list[str] = field(default_factory=list)
    is_active: bool = True


# -- validation --------------------------------------------------------------------------------


def clean_color(raw: str) -> str:
    color = raw.strip()
    if not COLOR.match(color):
        raise InvalidInput("Enter a colour as #rrggbb, e.g. #1f6feb.", field="color")
    return color.lower()


def clean_origin(raw: str) -> str:
    """``https://shop.example.com[:port]``: a scheme and a host, nothing else."""
    text = raw.strip().rstrip("/")
    parts = urlsplit(text)
    host = parts.hostname or ""
    valid_host = bool(host) and all(ch.isalnum() or ch in ".-" for ch in host) and not host.startswith(".")
    if (
        parts.scheme not in {"http", "https"}
        or not valid_host
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
        or len(text) > 200
    ):
        raise InvalidInput(
            "%(origin)s is not a site address like https://www.example.com.",
            field="allowed_origins",
            params={"origin": text[:100]},
        )
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(
            "%(origin)s is not a site address like https://www.example.com.",
            field="allowed_origins",
            params={"origin": text[:100]},
        ) from None
    return f"{parts.scheme}://{host.lower()}" + (f":{port}" if port else "")


def clean_origins(raw: Sequence[str]) -> list[str]:
    origins: list[str] = []
    for item in raw:
        if item.strip():
            origin = clean_origin(item)
            if origin not in origins:
                origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise InvalidInput("At most %(max)s sites.", field="allowed_origins", params={"max": MAX_ORIGINS})
    return origins


def clean_field(raw: Mapping[str, Any], seen: set[str]) -> dict[str, Any]:
    name = str(raw.get("name", "")).strip().lower()
    if not FIELD_NAME.match(name):
        raise InvalidInput(
            "A field name is a short word of lowercase letters, digits and _ (got %(name)s).",
            field="prechat_fields",
            params={"name": name[:40]},
        )
    if name in seen:
        raise InvalidInput("The field %(name)s appears twice.", field="prechat_fields", params={"name": name})
    seen.add(name)
    label = clean_name(str(raw.get("label", "")), field="prechat_fields", max_length=60)
    kind = str(raw.get("type", "text")).strip().lower()
    if kind not in FIELD_TYPES:
        raise InvalidInput(
            "A field type is one of: %(types)s.",
            field="prechat_fields",
            params={"types": ", ".join(FIELD_TYPES)},
        )
    cleaned: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": kind,
        "required": bool(raw.get("required")),
    }
    if kind == "select":
        options = [
            clean_name(str(o), field="prechat_fields", max_length=60) for o in raw.get("options") or []
        ]
        if not options or len(options) > MAX_OPTIONS:
            raise InvalidInput(
                "A choice field needs 1 to %(max)s options.",
                field="prechat_fields",
                params={"max": MAX_OPTIONS},
            )
        cleaned["options"] = options
    return cleaned


def clean_fields(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if len(raw) > MAX_FIELDS:
        raise InvalidInput("At most %(max)s fields.", field="prechat_fields", params={"max": MAX_FIELDS})
    seen: set[str] = set()
    return [clean_field(item, seen) for item in raw]


async def _check_refs(session: AsyncSession, values: WidgetValues) -> None:
    if values.queue_id is not None and await session.get(Team, values.queue_id) is None:
        raise InvalidInput("No such team.", field="queue_id")
    if values.calendar_id is not None and await session.get(Calendar, values.calendar_id) is None:
        raise InvalidInput("No such business hours.", field="calendar_id")


def clean_values(values: WidgetValues) -> dict[str, Any]:
    if values.position not in POSITIONS:
        raise InvalidInput("Choose left or right.", field="position")
    if values.locale not in WIDGET_LOCALES:
        raise InvalidInput("Choose a language.", field="locale")
    texts = {
        key: clean_text(getattr(values, key), field=key, max_length=MAX_TEXT)
        for key in ("welcome_message", "away_message", "offline_message")
    }
    return {
        **asdict(values),
        **texts,
        "name": clean_name(values.name, max_length=100),
        "title": clean_name(values.title, field="title", max_length=60),
        "color": clean_color(values.color),
        "prechat_fields": clean_fields(values.prechat_fields),
        "allowed_origins": clean_origins(values.allowed_origins),
    }


# -- widgets -----------------------------------------------------------------------------------


def new_key() -> str:
    return secrets.token_hex(8)


def new_identity_secret() -> str:
    return secrets.token_hex(32)


async def create_widget(session: AsyncSession, actor: Actor, values: WidgetValues) -> Widget:
    cleaned = clean_values(values)
    await _check_refs(session, values)
    now = utcnow()
    widget = Widget(
        key=new_key(), identity_secret=new_identity_secret(), created_at=now, updated_at=now, **cleaned
    )
    session.add(widget)
    await session.flush()
    record_audit(
        session, actor, "widget.created", target_type="widget", target_id=widget.id, target_label=widget.name
    )
    return widget


async def _get(session: AsyncSession, widget_id: int) -> Widget:
    widget = await session.get(Widget, widget_id)
    if widget is None:
        raise NotFound("No such widget.")
    return widget


async def update_widget(session: AsyncSession, actor: Actor, widget_id: int, values: WidgetValues) -> Widget:
    widget = await _get(session, widget_id)
    cleaned = clean_values(values)
    await _check_refs(session, values)
    changed = sorted(key for key, value in cleaned.items() if getattr(widget, key) != value)
    for key in changed:
        setattr(widget, key, cleaned[key])
    if changed:
        widget.updated_at = utcnow()
        record_audit(
            session,
            actor,
            "widget.changed",
            target_type="widget",
            target_id=widget.id,
            target_label=widget.name,
            fields=changed,
        )
    return widget


async def rotate_identity_secret(session: AsyncSession, actor: Actor, widget_id: int) -> Widget:
    """A new secret: hashes made with the old one stop working at once."""
    widget = await _get(session, widget_id)
    widget.identity_secret = new_identity_secret()
    widget.updated_at = utcnow()
    record_audit(
        session,
        actor,
        "widget.identity_secret_rotated",
        target_type="widget",
        target_id=widget.id,
        target_label=widget.name,
    )
    return widget


# -- visitors ----------------------------------------------------------------------------------


def clean_prechat(widget: Widget, raw: Mapping[str, Any]) -> dict[str, str]:
    """The submitted pre-chat values that the widget asks for, checked against their fields."""
    if not widget.prechat_enabled:
        return {}
    values: dict[str, str] = {}
    for spec in widget.prechat_fields:
        name = spec["name"]
        value = raw.get(name)
        text = clean_text(value if isinstance(value, str) else "", field=name, max_length=MAX_FIELD_VALUE)
        if not text:
            if spec.get("required"):
                raise InvalidInput("This field is required.", field=name)
            continue
        if spec["type"] == "email" and not EMAIL.match(text):
            raise InvalidInput("Enter a valid email address.", field=name)
        if spec["type"] == "tel" and not PHONE.match(text):
            raise InvalidInput("Enter a valid phone number.", field=name)
        if spec["type"] == "select" and text not in spec.get("options", []):
            raise InvalidInput("Choose one of the options.", field=name)
        if spec["type"] != "textarea":
            text = " ".join(text.split())
        values[name] = text
    return values


async def _refresh_contact(
    session: AsyncSession, visitor: VisitorPrincipal, *, name: str = "", email: str | None, phone: str | None
) -> None:
    await resolve_contact(
        session, kind=visitor.kind, value=visitor.identity, name=name, email=email, phone=phone
    )


@dataclass(frozen=True)
class FirstMessage:
    client_id: str
    body: str
    attachment_ids: Sequence[int] = ()


async def start_conversation(
    session: AsyncSession,
    widget: Widget,
    visitor: VisitorPrincipal,
    *,
    prechat: Mapping[str, Any],
    first: FirstMessage | None = None,
) -> tuple[Conversation, bool]:
    """Open a chat (or return the visitor's open one: two tabs starting at once share it).

    Returns the conversation and whether it is new.
    """
    ensure_visitor_may_start(widget, visitor)
    values = clean_prechat(widget, prechat)
    await _refresh_contact(
        session, visitor, name=values.get("name", ""), email=values.get("email"), phone=values.get("phone")
    )
    existing = await active_conversation(session, widget.id, visitor.contact_id)
    created = existing is None
    if existing is None:
        extra = {k: v for k, v in values.items() if k not in CONTACT_FIELDS}
        existing = await open_conversation(
            session,
            channel=Channel.web_chat,
            contact_id=visitor.contact_id,
            queue_id=widget.queue_id,
            meta={"widget_id": widget.id, "prechat": extra},
        )
        if widget.welcome_message:
            await post_message(
                session,
                existing.id,
                author=Author.bot(widget.title),
                body=widget.welcome_message,
                meta={"kind": WELCOME_KIND},
            )
    if first is not None:
        await post_visitor_message(session, widget, visitor, existing.id, first, name=values.get("name", ""))
    return existing, created


async def post_visitor_message(
    session: AsyncSession,
    widget: Widget,
    visitor: VisitorPrincipal,
    conversation_id: int,
    message: FirstMessage,
    *,
    name: str = "",
) -> Posted:
    conversation = await owned_conversation(session, visitor, conversation_id)
    if conversation.status == Status.closed.value:
        existing = await session.scalar(
            select(Message.id).where(
                Message.conversation_id == conversation.id, Message.client_id == message.client_id
            )
        )
        if existing is None:  # a retry of a message sent before the close still gets its answer
            raise Conflict("This conversation has ended. Start a new one.")
    return await post_message(
        session,
        conversation.id,
        author=Author.customer(visitor.contact_id, name),
        body=message.body,
        client_id=message.client_id,
        attachment_ids=message.attachment_ids,
    )


async def leave_offline_message(
    session: AsyncSession,
    widget: Widget,
    visitor: VisitorPrincipal,
    *,
    name: str,
    email: str | None,
    phone: str | None,
    body: str,
    client_id: str | None = None,
) -> Conversation:
    """留言: a message left while nobody answers; it waits in the queue like any other chat."""
    ensure_visitor_may_start(widget, visitor)
    name = clean_name(name, max_length=100)
    email = email.strip() if email and email.strip() else None
    phone = phone.strip() if phone and phone.strip() else None
    if email is None and phone is None:
        raise InvalidInput("Leave an email address or a phone number so we can answer.", field="email")
    if email is not None and not EMAIL.match(email):
        raise InvalidInput("Enter a valid email address.", field="email")
    if phone is not None and not PHONE.match(phone):
        raise InvalidInput("Enter a valid phone number.", field="phone")
    await _refresh_contact(session, visitor, name=name, email=email, phone=phone)
    conversation = await open_conversation(
        session,
        channel=Channel.web_chat,
        contact_id=visitor.contact_id,
        queue_id=widget.queue_id,
        meta={"widget_id": widget.id, "offline": True},
    )
    await post_message(
        session,
        conversation.id,
        author=Author.customer(visitor.contact_id, name),
        body=body,
        client_id=client_id,
        meta={"offline": True},
    )
    return conversation


# -- while waiting: leave a message instead, or ask for a callback --------------------------------------


async def _lock_owned(session: AsyncSession, visitor: VisitorPrincipal, conversation_id: int) -> Conversation:
    """The visitor's conversation, current and locked against other writers (PostgreSQL; SQLite
    serialises writers anyway)."""
    await owned_conversation(session, visitor, conversation_id)
    conversation = await session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    if conversation.status == Status.closed.value:
        raise Conflict("This conversation has ended. Start a new one.")
    return conversation


async def leave_message_instead(
    session: AsyncSession,
    widget: Widget,
    visitor: VisitorPrincipal,
    conversation_id: int,
    *,
    email: str | None,
    body: str = "",
    client_id: str | None = None,
) -> tuple[Conversation, str]:
    """留言 instead of waiting: the waiting chat becomes a message we answer by email.

    The conversation keeps its place in its queue (an agent takes it like any 留言), is marked
    ``offline`` like the 留言 form's conversations (no away text; agents see it is one), and gets
    a line "Left a message; reply by email to …". An email address is required: the one given,
    else the contact's. Returns the conversation and the address.
    """
    conversation = await _lock_owned(session, visitor, conversation_id)
    if conversation.assignee_id is not None:
        raise Conflict("An agent has already taken your conversation.")
    email = email.strip() if email and email.strip() else None
    if email is not None and not EMAIL.match(email):
        raise InvalidInput("Enter a valid email address.", field="email")
    address = email or (await get_contact(session, visitor.contact_id)).email
    if not address:
        raise InvalidInput("Enter your email address so that we can reply.", field="email")
    text = clean_text(body or "", field="body", max_length=10_000)
    if email is not None:
        await _refresh_contact(session, visitor, email=email, phone=None)
    meta = dict(conversation.meta or {})
    already = bool(meta.get("offline")) and meta.get("reply_email") == address
    conversation.meta = {**meta, "offline": True, "reply_email": address}
    if text:
        await post_message(
            session,
            conversation.id,
            author=Author.customer(visitor.contact_id),
            body=text,
            client_id=client_id,
            meta={"offline": True},
        )
    if not already:
        # Stored in English like every system line; the widget shows it in the visitor's language.
        await post_message(
            session,
            conversation.id,
            author=Author.system(),
            body=f"Left a message; reply by email to {address}",
            meta={"kind": OFFLINE_KIND, "to": address},
        )
        record_event(session, ConversationUpdated(conversation.id, ("offline",)))
    return conversation, address


def clean_callback_phone(raw: str) -> str:
    """A number to call back: digits, +, spaces and dashes, 5–20 digits; spaces collapsed."""
    phone = " ".join((raw or "").split())
    if not phone or not CALLBACK_PHONE.match(phone) or "+" in phone[1:]:
        raise InvalidInput("Enter a phone number: digits, +, spaces and dashes only.", field="phone")
    digits = sum(ch.isdigit() for ch in phone)
    low, high = CALLBACK_DIGITS
    if not low <= digits <= high:
        raise InvalidInput(
            "A phone number has %(min)s to %(max)s digits.", field="phone", params={"min": low, "max": high}
        )
    return phone


def clean_preferred_time(raw: str | None) -> str:
    text = clean_text(raw or "", field="preferred_time", max_length=MAX_PREFERRED_TIME)
    return " ".join(text.split())


async def _recent_callbacks(session: AsyncSession, conversation_id: int, now: datetime) -> list[datetime]:
    rows = await session.execute(
        select(Message.created_at, Message.meta).where(
            Message.conversation_id == conversation_id,
            Message.author_kind == AuthorKind.system.value,
            Message.created_at >= now - CALLBACK_WINDOW,
        )
    )
    return [at for at, meta in rows.all() if (meta or {}).get("kind") == CALLBACK_KIND]


async def request_callback(
    session: AsyncSession,
    widget: Widget,
    visitor: VisitorPrincipal,
    conversation_id: int,
    *,
    phone: str,
    preferred_time: str | None = None,
) -> Conversation:
    """The visitor asks to be called back: kept in the conversation's ``meta["callback"]``, told to
    agents by a line "Callback requested: …", the number saved on the contact. The conversation
    stays in its queue, so an agent takes it and calls. At most 3 requests per conversation an hour.
    """
    phone = clean_callback_phone(phone)
    preferred = clean_preferred_time(preferred_time)
    conversation = await _lock_owned(session, visitor, conversation_id)
    now = utcnow()
    recent = await _recent_callbacks(session, conversation.id, now)
    if len(recent) >= CALLBACKS_PER_WINDOW:
        wait = max(1, math.ceil((min(recent) + CALLBACK_WINDOW - now).total_seconds()))
        raise RateLimited(
            "You asked for a callback %(count)s times this hour. Try again in %(minutes)s minutes.",
            retry_after=wait,
            params={"count": len(recent), "minutes": math.ceil(wait / 60)},
        )
    await _refresh_contact(session, visitor, email=None, phone=phone)
    conversation.meta = {
        **(conversation.meta or {}),
        "callback": {"phone": phone, "preferred_time": preferred, "requested_at": now.isoformat()},
    }
    line = f"Callback requested: {phone}" + (f" ({preferred})" if preferred else "")
    await post_message(
        session,
        conversation.id,
        author=Author.system(),
        body=line,
        meta={"kind": CALLBACK_KIND, "phone": phone, "preferred_time": preferred},
    )
    record_event(session, ConversationUpdated(conversation.id, ("callback",)))
    return conversation


async def leave_callback_request(
    session: AsyncSession,
    widget: Widget,
    visitor: VisitorPrincipal,
    *,
    name: str,
    phone: str,
    preferred_time: str | None = None,
    body: str = "",
    client_id: str | None = None,
) -> Conversation:
    """The callback form the widget shows first while its queue is closed (after-hours mode
    ``callback``): a conversation (the visitor's open one, else a new one marked ``offline``)
    that waits in the queue with the callback request, for the first agent when it opens."""
    ensure_visitor_may_start(widget, visitor)
    name = clean_name(name, max_length=100)
    phone = clean_callback_phone(phone)
    text = clean_text(body or "", field="body", max_length=10_000)
    await _refresh_contact(session, visitor, name=name, email=None, phone=phone)
    conversation = await active_conversation(session, widget.id, visitor.contact_id)
    if conversation is None:
        conversation = await open_conversation(
            session,
            channel=Channel.web_chat,
            contact_id=visitor.contact_id,
            queue_id=widget.queue_id,
            meta={"widget_id": widget.id, "offline": True},
        )
    if text:
        await post_message(
            session,
            conversation.id,
            author=Author.customer(visitor.contact_id, name),
            body=text,
            client_id=client_id,
            meta={"offline": True},
        )
    return await request_callback(
        session, widget, visitor, conversation.id, phone=phone, preferred_time=preferred_time
    )


def needs_auto_reply(history: Sequence[MessageView], now: Any) -> bool:
    for message in reversed(history):
        if message.kind == AUTO_REPLY_KIND:
            return bool(now - message.created_at >= AUTO_REPLY_EVERY)
    return True


async def post_auto_reply(session: AsyncSession, widget: Widget, conversation_id: int) -> bool:
    """The widget's away text, at most once per conversation per 10 minutes."""
    if not widget.away_message:
        return False
    now = utcnow()
    history = await messages_before(
        session, conversation_id, before_seq=None, include_notes=False, limit=AUTO_REPLY_LOOKBACK
    )
    if not needs_auto_reply(history, now):
        return False
    # Two customer messages at once on two nodes: the client id (one per 10-minute slot)
    # lets only one of them through.
    slot = int(now.timestamp() // AUTO_REPLY_EVERY.total_seconds())
    posted = await post_message(
        session,
        conversation_id,
        author=Author.bot(widget.title),
        body=widget.away_message,
        client_id=f"auto-reply:{slot}",
        meta={"kind": AUTO_REPLY_KIND},
    )
    return posted.created


def ensure_visitor_may_start(widget: Widget, visitor: VisitorPrincipal) -> None:
    if widget.require_identity and not visitor.identified:
        raise PermissionDenied("This chat is only for signed-in users of the site.")


async def open_visitor_session(
    session: AsyncSession,
    widget: Widget,
    *,
    known: VisitorPrincipal | None,
    user_id: str | None,
    user_hash: str | None,
    name: str = "",
    email: str | None = None,
) -> VisitorPrincipal:
    """Who the frame's visitor is: a proven site user, the anonymous visitor it was, or a new one.

    ``known`` is the visitor of the token the frame kept (already checked to be this widget's).
    A kept token of a signed-in user is not reused without a fresh hash: on a shared computer
    the next person must not inherit the last one's chats.
    """
    if user_id is not None:
        user_id = user_id.strip()
        if not user_id or len(user_id) > MAX_USER_ID_CHARS:
            raise InvalidInput(
                "user_id: 1–%(max)s characters.", field="user_id", params={"max": MAX_USER_ID_CHARS}
            )
        if not check_user_hash(widget.identity_secret, user_id, user_hash):
            raise PermissionDenied("The user hash does not match the user id.")
        kind, identity = IDENTIFIED, user_id
    elif known is not None and not known.identified:
        kind, identity = ANONYMOUS, known.identity
    else:
        kind, identity = ANONYMOUS, f"{widget.id}:{uuid.uuid4().hex}"
    if widget.require_identity and kind != IDENTIFIED:
        raise PermissionDenied("This chat is only for signed-in users of the site.")
    email = email.strip() if email and email.strip() else None
    if email is not None and not EMAIL.match(email):
        raise InvalidInput("Enter a valid email address.", field="email")
    contact = await resolve_contact(
        session, kind=kind, value=identity, name=" ".join(name.split())[:100], email=email
    )
    return VisitorPrincipal(widget_id=widget.id, contact_id=contact.id, identity=identity, kind=kind)
