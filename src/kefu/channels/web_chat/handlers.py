"""The web chat's reactions to events: the away text when a visitor writes and nobody can answer,
and the waiting visitors' live place in line (:mod:`kefu.channels.web_chat.queue`)."""

from __future__ import annotations

import logging

from kefu.channels.web_chat import queries, queue, service
from kefu.channels.web_chat.models import Widget
from kefu.conversations import AuthorKind, Channel, MessagePosted
from kefu.platform.kernel import Kernel

log = logging.getLogger(__name__)


async def auto_reply(kernel: Kernel, event: MessagePosted) -> bool:
    """Post the widget's away text if the chat waits and nobody answers now; True when posted."""
    if event.author_kind != AuthorKind.customer.value or event.is_note:
        return False
    # Most messages need no reply: decide from the event (the conversation as the message left
    # it) where it can, then on a read, and take the write lock only to post.
    meta = event.conversation_meta
    widget_id = meta.get("widget_id")
    if (
        event.channel != Channel.web_chat.value
        or event.assignee_id is not None
        or meta.get("offline")  # a 留言 already knows nobody is there
        or meta.get("callback")  # so does someone who asked to be called back
        or not isinstance(widget_id, int)
    ):
        return False
    async with kernel.db.reader() as session:
        widget = await session.get(Widget, widget_id)
        if widget is None or not widget.away_message or await queries.is_online(session, widget):
            return False
    async with kernel.db.transaction() as session:
        return await service.post_auto_reply(session, widget, event.conversation_id)


def register(kernel: Kernel) -> None:
    async def on_message(event: MessagePosted) -> None:
        try:
            await auto_reply(kernel, event)
        except Exception:  # a failed courtesy reply must never fail the visitor's message
            log.exception("web chat auto-reply failed for conversation %s", event.conversation_id)

    kernel.dispatcher.subscribe(MessagePosted, on_message)
    queue.register(kernel)
