"""Routing's reactions to events: every change that adds a waiting conversation or frees an agent's
room (presence, a conversation ending or handed over, more capacity or skills, new queue
settings) triggers a decision.

Handlers run after the commit that recorded the event, each decision in its own transaction,
and never raise into the dispatcher: a failure is logged and the minute sweep repairs it.
"""

from __future__ import annotations

import logging

from kefu.conversations import (
    ACTIVE_STATUSES,
    ConversationAssigned,
    ConversationQueued,
    ConversationStatusChanged,
    ConversationUpdated,
    get_conversation,
)
from kefu.platform.errors import NotFound
from kefu.platform.kernel import Kernel
from kefu.routing import jobs, sla
from kefu.routing.assignment import assign_waiting, serve_agent
from kefu.routing.events import PresenceChanged, RoutingChanged
from kefu.routing.rules import PresenceState

log = logging.getLogger(__name__)
_ACTIVE = {s.value for s in ACTIVE_STATUSES}


def register(kernel: Kernel) -> None:
    jobs.register(kernel.jobs)
    sla.register(kernel)  # SLA clocks: their job and handlers
    db = kernel.db

    async def on_queued(event: ConversationQueued) -> None:
        try:
            await assign_waiting(db, event.conversation_id)
        except Exception:
            log.exception("assigning conversation %s failed", event.conversation_id)

    async def serve(user_id: int) -> None:
        try:
            await serve_agent(db, user_id)
        except Exception:
            log.exception("serving agent %s failed", user_id)

    async def on_presence(event: PresenceChanged) -> None:
        if event.state == PresenceState.online.value:
            await serve(event.user_id)

    async def on_assigned(event: ConversationAssigned) -> None:
        if event.previous_assignee_id is not None and event.previous_assignee_id != event.assignee_id:
            await serve(event.previous_assignee_id)  # handed over: their room grew

    async def on_status(event: ConversationStatusChanged) -> None:
        if event.previous in _ACTIVE and event.status not in _ACTIVE:
            try:
                async with db.reader() as session:
                    assignee = (await get_conversation(session, event.conversation_id)).assignee_id
            except NotFound:
                return
            if assignee is not None:
                await serve(assignee)

    async def on_updated(event: ConversationUpdated) -> None:
        if "priority" in event.fields:  # a new place in line
            try:
                await assign_waiting(db, event.conversation_id)
            except Exception:
                log.exception("re-ranking conversation %s failed", event.conversation_id)

    async def on_routing_changed(event: RoutingChanged) -> None:
        """Capacity, skills or queue settings changed: whoever may now take something, does."""
        if event.user_id is not None:
            await serve(event.user_id)
            return
        try:
            await jobs.assign_all_waiting(db)
        except Exception:
            log.exception("assigning after a routing change failed")

    kernel.dispatcher.subscribe(ConversationQueued, on_queued)
    kernel.dispatcher.subscribe(RoutingChanged, on_routing_changed)
    kernel.dispatcher.subscribe(PresenceChanged, on_presence)
    kernel.dispatcher.subscribe(ConversationAssigned, on_assigned)
    kernel.dispatcher.subscribe(ConversationStatusChanged, on_status)
    kernel.dispatcher.subscribe(ConversationUpdated, on_updated)
