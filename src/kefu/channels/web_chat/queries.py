"""Reads of the web chat channel: widgets, whether anyone answers now, a visitor's conversations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.admin import get_workspace_settings
from kefu.calendars import get_snapshot
from kefu.channels.web_chat.models import Widget
from kefu.channels.web_chat.visitors import VisitorPrincipal
from kefu.conversations import Attachment, AuthorKind, Channel, Conversation, Message, Status, display_number
from kefu.platform.db import utcnow
from kefu.platform.errors import NotFound
from kefu.routing import AfterHours, anyone_available, queue_hours

# What the widget shows first: the chat, the 留言 form, the callback form, or the chat with the
# bot only (the queue is closed and set to let the bot answer until it opens).
Mode = Literal["chat", "offline_message", "callback", "bot_only"]


async def get_widget(session: AsyncSession, widget_id: int) -> Widget:
    widget = await session.get(Widget, widget_id)
    if widget is None:
        raise NotFound("No such widget.")
    return widget


async def get_widget_by_key(session: AsyncSession, key: str, *, active_only: bool = True) -> Widget:
    widget = None
    if 1 <= len(key) <= 32 and key.isalnum():
        widget = await session.scalar(select(Widget).where(Widget.key == key))
    if widget is None or (active_only and not widget.is_active):
        raise NotFound("No such chat widget.")
    return widget


async def active_widget(session: AsyncSession, widget_id: int) -> Widget:
    widget = await session.get(Widget, widget_id)
    if widget is None or not widget.is_active:
        raise NotFound("No such chat widget.")
    return widget


async def list_widgets(session: AsyncSession) -> Sequence[Widget]:
    return (await session.scalars(select(Widget).order_by(Widget.name, Widget.id))).all()


async def within_hours(session: AsyncSession, widget: Widget) -> bool:
    """The widget's business hours (or the workspace's default) are open now; no hours: always."""
    calendar_id = widget.calendar_id
    if calendar_id is None:
        calendar_id = (await get_workspace_settings(session)).default_calendar_id
    if calendar_id is None:
        return True
    try:
        rules = await get_snapshot(session, calendar_id)
    except NotFound:
        return True
    return rules.is_open(utcnow())


@dataclass(frozen=True)
class Availability:
    """Whether someone answers the widget now, and what the widget offers when nobody does."""

    online: bool
    mode: Mode
    opens_at: datetime | None = None  # when the widget's queue opens again (its hours are closed)


async def availability(session: AsyncSession, widget: Widget) -> Availability:
    """The widget's state for its visitors.

    When the widget's queue is closed by the queue's own business hours, the queue's after-hours
    setting decides: the 留言 form, the callback form, the chat with the bot only, or the
    after-hours team (open as long as someone of that team is available). Otherwise, as before:
    online when the widget's hours (or the workspace's) are open and an agent of its queue is
    available, else the 留言 form.
    """
    hours = await queue_hours(session, widget.queue_id, utcnow())
    if not hours.open:
        after = hours.after_hours
        if after is AfterHours.overflow:
            team = hours.after_hours_team_id
            if team is not None and await anyone_available(session, team):
                return Availability(True, "chat")
            return Availability(False, "offline_message", hours.next_open_at)
        if after is AfterHours.callback:
            return Availability(False, "callback", hours.next_open_at)
        if after is AfterHours.bot_only:
            return Availability(False, "bot_only", hours.next_open_at)
        return Availability(False, "offline_message", hours.next_open_at)
    online = await within_hours(session, widget) and await anyone_available(session, widget.queue_id)
    return Availability(online, "chat" if online else "offline_message")


async def is_online(session: AsyncSession, widget: Widget) -> bool:
    return (await availability(session, widget)).online


def public_widget(widget: Widget) -> dict[str, Any]:
    """What the frame needs to draw itself; never the identity secret or the allowed origins."""
    return {
        "key": widget.key,
        "look": {
            "title": widget.title,
            "color": widget.color,
            "position": widget.position,
            "locale": widget.locale,
        },
        "texts": {
            "welcome": widget.welcome_message,
            "away": widget.away_message,
            "offline": widget.offline_message,
        },
        "prechat": {"enabled": widget.prechat_enabled, "fields": list(widget.prechat_fields or [])},
        "require_identity": widget.require_identity,
    }


def public_conversation(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "number": display_number(conversation.id),
        "status": conversation.status,
        "last_seq": conversation.last_seq,
        "customer_last_read_seq": conversation.customer_last_read_seq,
        "agent_last_read_seq": conversation.agent_last_read_seq,
        "offline": bool((conversation.meta or {}).get("offline")),
        "reply_email": (conversation.meta or {}).get("reply_email"),
        "callback": _public_callback((conversation.meta or {}).get("callback")),
        "created_at": conversation.created_at.isoformat(),
    }


def _public_callback(found: Any) -> dict[str, Any] | None:
    """The visitor's own callback request, as they gave it."""
    if not isinstance(found, dict):
        return None
    return {"phone": found.get("phone"), "preferred_time": found.get("preferred_time") or ""}


async def visitor_conversations(
    session: AsyncSession, widget_id: int, contact_id: int, *, limit: int = 50
) -> list[Conversation]:
    rows = await session.scalars(
        select(Conversation)
        .where(Conversation.contact_id == contact_id, Conversation.channel == Channel.web_chat.value)
        .order_by(Conversation.id.desc())
        .limit(limit * 4)
    )
    return [c for c in rows if (c.meta or {}).get("widget_id") == widget_id][:limit]


async def active_conversation(session: AsyncSession, widget_id: int, contact_id: int) -> Conversation | None:
    """The visitor's newest conversation through this widget that is not closed."""
    rows = await session.scalars(
        select(Conversation)
        .where(
            Conversation.contact_id == contact_id,
            Conversation.channel == Channel.web_chat.value,
            Conversation.status != Status.closed.value,
        )
        .order_by(Conversation.id.desc())
        .limit(20)
    )
    for conversation in rows:
        if (conversation.meta or {}).get("widget_id") == widget_id:
            return conversation
    return None


async def owned_conversation(
    session: AsyncSession, visitor: VisitorPrincipal, conversation_id: int
) -> Conversation:
    """The conversation, when it is this visitor's through this widget; else NotFound (no probing)."""
    conversation = await session.get(Conversation, conversation_id)
    if (
        conversation is None
        or conversation.contact_id != visitor.contact_id
        or conversation.channel != Channel.web_chat.value
        or (conversation.meta or {}).get("widget_id") != visitor.widget_id
    ):
        raise NotFound("No such conversation.")
    return conversation


async def visible_attachment(session: AsyncSession, attachment_id: int, contact_id: int) -> Attachment:
    """An attachment the visitor may fetch: in their own chat, and not part of an internal note
    (nor an agent's upload not sent yet)."""
    attachment = await session.get(Attachment, attachment_id)
    conversation = await session.get(Conversation, attachment.conversation_id) if attachment else None
    if attachment is None or conversation is None or conversation.contact_id != contact_id:
        raise NotFound("No such attachment.")
    if attachment.message_id is None:
        visible = attachment.uploader_kind == AuthorKind.customer.value
    else:
        message = await session.get(Message, attachment.message_id)
        visible = message is not None and not message.is_note
    if not visible:
        raise NotFound("No such attachment.")
    return attachment
