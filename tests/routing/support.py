"""Helpers of the routing tests: conversations, presence, and the events the dispatcher saw."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select, update

from kefu.conversations import Channel, Conversation, assign_conversation, open_conversation, resolve_contact
from kefu.platform.audit import Actor
from kefu.platform.kernel import Kernel
from kefu.routing import AgentPresence, PresenceState, set_presence

_visitors = itertools.count(1)
TEST_ACTOR = Actor.system("test")


async def new_conversation(kernel: Kernel, queue_id: int | None = None) -> int:
    """A web chat that starts waiting (the routing handler runs after the commit)."""
    async with kernel.db.transaction() as session:
        n = next(_visitors)
        contact = await resolve_contact(session, kind="test", value=f"v{n}", name=f"Visitor {n}")
        conversation = await open_conversation(
            session, channel=Channel.web_chat, contact_id=contact.id, queue_id=queue_id
        )
        return conversation.id


async def give(kernel: Kernel, conversation_id: int, user_id: int) -> None:
    async with kernel.db.transaction() as session:
        await assign_conversation(session, conversation_id, user_id, actor=TEST_ACTOR)


async def presence(kernel: Kernel, user_id: int, state: PresenceState, **kwargs: Any) -> None:
    async with kernel.db.transaction() as session:
        await set_presence(session, user_id, state, **kwargs)


async def online_without_event(kernel: Kernel, user_id: int) -> None:
    """Online as if the event was lost (a crash between commit and handlers)."""
    await presence(kernel, user_id, PresenceState.busy)
    async with kernel.db.transaction() as session:
        await session.execute(
            update(AgentPresence).where(AgentPresence.user_id == user_id).values(state="online")
        )


async def assignee(kernel: Kernel, conversation_id: int) -> int | None:
    async with kernel.db.reader() as session:
        return await session.scalar(
            select(Conversation.assignee_id).where(Conversation.id == conversation_id)
        )


class Recorder:
    """Collects the events of some types the kernel dispatches after commits."""

    def __init__(self, kernel: Kernel, *types: type[Any]) -> None:
        self.events: list[Any] = []
        for event_type in types:
            kernel.dispatcher.subscribe(event_type, self._record)

    async def _record(self, event: Any) -> None:
        self.events.append(event)
