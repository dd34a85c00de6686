"""Routing's reactions to events: assign conversations as they start waiting and as agents arrive.

Handlers run after the commit that recorded the event, each in its own transaction, and
never raise into the dispatcher: a failure is logged and the minute sweep repairs it.
"""

from __future__ import annotations

import logging

from kefu.conversations import ConversationQueued
from kefu.platform.kernel import Kernel
from kefu.routing import jobs, queries
from kefu.routing.assignment import Assigner, assign_waiting
from kefu.routing.events import PresenceChanged
from kefu.routing.rules import PresenceState

log = logging.getLogger(__name__)


def register(kernel: Kernel, assigner: Assigner | None = None) -> None:
    chosen = assigner or jobs.DEFAULT_ASSIGNER
    kernel.services["routing.assigner"] = chosen
    jobs.register(kernel.jobs)
    db = kernel.db

    async def on_queued(event: ConversationQueued) -> None:
        try:
            await assign_waiting(db, chosen, event.conversation_id)
        except Exception:
            log.exception("assigning conversation %s failed", event.conversation_id)

    async def on_presence(event: PresenceChanged) -> None:
        if event.state != PresenceState.online.value:
            return
        try:
            async with db.reader() as session:
                teams: set[int | None] = {None, *await queries.team_ids_of(session, event.user_id)}
            await jobs.assign_all_waiting(db, chosen, queue_ids=teams)
        except Exception:
            log.exception("assigning waiting conversations to user %s failed", event.user_id)

    kernel.dispatcher.subscribe(ConversationQueued, on_queued)
    kernel.dispatcher.subscribe(PresenceChanged, on_presence)
