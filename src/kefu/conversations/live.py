"""The agent workspace's realtime commands: who is viewing a conversation, and who is typing.

``{"type": "agent.viewing", "conversation_id": 7}`` and ``{"type": "agent.typing",
"conversation_id": 7, "typing": true, "note": false}`` become unstored signals on
``conversation:7`` (the other agents' collision warning); typing a reply (not a note) also
reaches the customer's widget on ``visitor:{contact_id}`` as ``{"who": "agent", "typing": …}``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from kefu.accounts import Permission, Principal
from kefu.conversations import queries
from kefu.platform.api import MAX_ID
from kefu.platform.errors import NotFound
from kefu.platform.kernel import Kernel
from kefu.platform.realtime import CommandRejected, RealtimeHub, Subscriber

CONTACT_CACHE_SIZE = 1000


def _agent(subscriber: Subscriber) -> Principal:
    principal = subscriber.principal
    if not isinstance(principal, Principal) or not principal.can(Permission.conversations_view):
        raise CommandRejected("forbidden", "Only agents send this.")
    return principal


def _conversation_id(command: dict[str, Any]) -> int:
    value = command.get("conversation_id")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise CommandRejected("bad-request", "conversation_id must be a conversation's id.")
    return value


class WorkspaceSignals:
    """The command handlers, with a small cache of conversation → contact (typing is chatty)."""

    def __init__(self, kernel: Kernel, hub: RealtimeHub) -> None:
        self.kernel = kernel
        self.hub = hub
        self._contacts: OrderedDict[int, int] = OrderedDict()

    async def viewing(self, subscriber: Subscriber, command: dict[str, Any]) -> dict[str, Any] | None:
        principal = _agent(subscriber)
        conversation_id = _conversation_id(command)
        await self.hub.signal(
            f"conversation:{conversation_id}",
            "viewing",
            {"conversation_id": conversation_id, "user_id": principal.user_id, "name": principal.name},
        )
        return None

    async def typing(self, subscriber: Subscriber, command: dict[str, Any]) -> dict[str, Any] | None:
        principal = _agent(subscriber)
        conversation_id = _conversation_id(command)
        typing = command.get("typing") is True
        note = command.get("note") is True
        await self.hub.signal(
            f"conversation:{conversation_id}",
            "typing",
            {
                "conversation_id": conversation_id,
                "user_id": principal.user_id,
                "name": principal.name,
                "typing": typing,
                "note": note,
            },
        )
        if not note:
            contact_id = await self._contact_of(conversation_id)
            await self.hub.signal(f"visitor:{contact_id}", "typing", {"who": "agent", "typing": typing})
        return None

    async def _contact_of(self, conversation_id: int) -> int:
        if conversation_id in self._contacts:
            self._contacts.move_to_end(conversation_id)
            return self._contacts[conversation_id]
        try:
            async with self.kernel.db.reader() as session:
                contact_id = (await queries.get_conversation(session, conversation_id)).contact_id
        except NotFound:
            raise CommandRejected("not-found", "No such conversation.") from None
        self._contacts[conversation_id] = contact_id
        if len(self._contacts) > CONTACT_CACHE_SIZE:
            self._contacts.popitem(last=False)
        return contact_id


def register(kernel: Kernel) -> None:
    if kernel.hub is None:
        return
    signals = WorkspaceSignals(kernel, kernel.hub)
    kernel.hub.add_command("agent.viewing", signals.viewing)
    kernel.hub.add_command("agent.typing", signals.typing)
