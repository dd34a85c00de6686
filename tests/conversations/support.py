"""Helpers for the workspace tests: conversations made through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kefu.accounts.models import User
from kefu.conversations import service
from kefu.conversations.models import Conversation, Message
from kefu.conversations.rules import Channel, Priority
from kefu.conversations.service import Author
from kefu.platform.kernel import Kernel

_counter = iter(range(1, 1_000_000))


@dataclass(frozen=True)
class Made:
    id: int
    contact_id: int


async def conversation(
    kernel: Kernel,
    *,
    name: str = "张伟",
    email: str | None = None,
    phone: str | None = None,
    first: str | None = "你好，我想咨询一下",
    queue_id: int | None = None,
    channel: Channel = Channel.web_chat,
    priority: Priority = Priority.normal,
    attributes: dict[str, Any] | None = None,
) -> Made:
    """A contact and a conversation opened by the contact's first message."""
    n = next(_counter)
    async with kernel.db.transaction() as session:
        contact = await service.resolve_contact(
            session,
            kind="visitor",
            value=f"visitor-{n}-{id(kernel)}",
            name=name,
            email=email,
            phone=phone,
            attributes=attributes,
        )
        opened = await service.open_conversation(
            session, channel=channel, contact_id=contact.id, queue_id=queue_id, priority=priority
        )
        if first is not None:
            await service.post_message(
                session, opened.id, author=Author.customer(contact.id, name), body=first
            )
        return Made(opened.id, contact.id)


async def customer_says(kernel: Kernel, made: Made, body: str, name: str = "张伟") -> Message:
    async with kernel.db.transaction() as session:
        posted = await service.post_message(
            session, made.id, author=Author.customer(made.contact_id, name), body=body
        )
        return posted.message


async def agent_says(kernel: Kernel, made: Made, user: User, body: str, *, note: bool = False) -> Message:
    async with kernel.db.transaction() as session:
        posted = await service.post_message(
            session, made.id, author=Author.agent(user.id, user.name), body=body, is_note=note
        )
        return posted.message


async def load(kernel: Kernel, conversation_id: int) -> Conversation:
    async with kernel.db.reader() as session:
        found = await session.get(Conversation, conversation_id)
        assert found is not None
        return found


async def builtin_categories(kernel: Kernel) -> None:
    async with kernel.db.transaction() as session:
        await service.ensure_builtin_categories(session)
