"""Helpers of the replies tests."""

from __future__ import annotations

import itertools

from kefu.accounts import Principal, Role, User
from kefu.conversations import Channel, open_conversation, resolve_contact
from kefu.platform.kernel import Kernel

_visitors = itertools.count(1)


def principal_of(user: User) -> Principal:
    return Principal(user_id=user.id, email=user.email, name=user.name, role=Role(user.role), locale=None)


async def new_conversation(kernel: Kernel, *, name: str = "李女士", email: str | None = None) -> int:
    async with kernel.db.transaction() as session:
        n = next(_visitors)
        contact = await resolve_contact(session, kind="test", value=f"r{n}", name=name, email=email)
        conversation = await open_conversation(session, channel=Channel.web_chat, contact_id=contact.id)
        return conversation.id
