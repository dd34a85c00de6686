"""The assignment hook: who gets a waiting conversation.

The rule for now is deliberately simple — the online member of the queue with the fewest
open conversations (ties: whose last automatic assignment is oldest, then the lowest id).
The routing issue replaces :class:`LeastOpenAssigner` with the full ACD behind the same
:class:`Assigner` protocol.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations import Status, assign_conversation, get_conversation, open_conversation_counts
from kefu.platform.audit import Actor
from kefu.platform.db import Database
from kefu.platform.errors import Conflict, DomainError, NotFound
from kefu.routing import queries, service

log = logging.getLogger(__name__)

ROUTING_ACTOR = Actor.system("routing")
_NEVER = datetime.min.replace(tzinfo=UTC)


class Assigner(Protocol):
    async def pick(self, session: AsyncSession, conversation_id: int, queue_id: int | None) -> int | None:
        """The agent who should get the conversation now, or None when nobody can."""
        ...


class LeastOpenAssigner:
    """Fewest open conversations among the queue's online agents."""

    async def pick(self, session: AsyncSession, conversation_id: int, queue_id: int | None) -> int | None:
        agents = await queries.available_agents(session, queue_id)
        if not agents:
            return None
        counts = await open_conversation_counts(session, agents)
        last = await queries.last_assigned(session, agents)
        return min(agents, key=lambda uid: (counts.get(uid, 0), last.get(uid) or _NEVER, uid))


async def assign_waiting(db: Database, assigner: Assigner, conversation_id: int) -> int | None:
    """Try to give one waiting conversation to an agent, in its own transaction.

    Returns the agent, or None when the conversation no longer waits or nobody is available.
    Safe to run concurrently: losing the race to another assignment is a quiet no-op.
    """
    try:
        async with db.transaction() as session:
            conversation = await get_conversation(session, conversation_id)
            if conversation.assignee_id is not None or conversation.status != Status.open.value:
                return None
            agent = await assigner.pick(session, conversation_id, conversation.queue_id)
            if agent is None:
                return None
            await assign_conversation(
                session, conversation_id, agent, actor=ROUTING_ACTOR, expect_unassigned=True
            )
            await service.note_assignment(session, agent)
            return agent
    except (Conflict, NotFound):
        return None  # someone took it (or it went away) meanwhile
    except DomainError as exc:
        log.warning("automatic assignment of conversation %s refused: %s", conversation_id, exc.message)
        return None
