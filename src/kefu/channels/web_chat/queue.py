"""Waiting visitors see their place in line move: live ``queue.position`` frames.

When a line (the waiting web chats of one queue) changes — a conversation starts waiting, is
assigned, ends, leaves the line or changes its rank, or an agent of the queue comes or goes —
every visitor waiting in that line gets their new position and estimated wait (see
:mod:`kefu.routing.position`) on their socket, as an unstored signal on ``visitor:{contact_id}``:

    {"type": "signal", "topic": "visitor:42", "event": "queue.position",
     "data": {"conversation_id": 7, "waiting": true, "position": 2, "wait_seconds": 240,
              "wait_minutes": 4, "present": true, "open": true, "opens_at": null}}

A conversation that waits no more gets ``{"conversation_id": 7, "waiting": false, …}`` (the
widget hides its banner). The same shape answers ``GET /api/v1/widget/conversations/{id}/queue``
(the first paint, and after a reconnect: signals have no history).

**Cost.** A line that has been quiet is recomputed at once, in the event handler (a few reads
after the commit, before the request that changed it answers); after that at most once every
:data:`INTERVAL` seconds however busy it is: what comes in meanwhile is left to one small task
per process, which recomputes the line when its turn comes and ends when nothing is left. Only
the first :data:`~kefu.routing.LINE_LIMIT` conversations of a line are computed (one query for
the line, a few for the estimate); further back, positions are shown as fetched and change on
the visitor's next fetch (the widget refetches now and then). A position that did not change is
not sent again.

**Several nodes.** Each node recomputes for the events it commits (signals reach every node's
sockets through the broker); a visitor may get the same position twice, which is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from kefu.accounts import Team, User
from kefu.conversations import (
    Channel,
    Conversation,
    ConversationAssigned,
    ConversationQueued,
    ConversationStatusChanged,
    ConversationUpdated,
    Status,
)
from kefu.platform.kernel import Kernel
from kefu.routing import LINE_LIMIT, PresenceChanged, not_waiting, positions

log = logging.getLogger(__name__)

EVENT = "queue.position"
INTERVAL = 2.0  # seconds: a line is recomputed at most this often
RERANK_SECONDS = 30.0  # how long a conversation whose priority changed is ranked by its new priority
SENT_MEMORY = 20_000  # last positions sent, to skip unchanged ones
SERVICE_KEY = "web_chat.queue_updates"
CHANNEL = Channel.web_chat.value
RANK_FIELDS = frozenset({"priority", "queue_id"})

Line = tuple[int | None, str]  # (queue id, channel)


class QueueUpdates:
    """Debounced recomputation of lines and the frames to their waiting visitors (one per kernel)."""

    def __init__(
        self,
        kernel: Kernel,
        *,
        interval: float = INTERVAL,
        limit: int = LINE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kernel = kernel
        self.interval = interval
        self.limit = limit
        self.clock = clock
        self.recomputed = 0  # lines recomputed so far (for tests and curiosity)
        # Touched, not yet resolved to their line -> whether an agent just took it from the line.
        self._conversations: dict[int, bool] = {}
        self._users: set[int] = set()  # agents whose presence changed: their queues' lines
        self._rerank: dict[int, float] = {}  # conversation id -> until when to rank it afresh
        self._due: set[Line] = set()
        self._last: dict[Line, float] = {}
        self._sent: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- what the event handlers call -------------------------------------------------------------------
    async def changed(self, conversation_id: int, *, taken: bool = False, rerank: bool = False) -> None:
        """A conversation's place in a line may have changed (``taken``: an agent took it from the line)."""
        self._conversations[conversation_id] = taken or self._conversations.get(conversation_id, False)
        if rerank:
            self._rerank[conversation_id] = self.clock() + RERANK_SECONDS
        await self._settle()

    async def agent_changed(self, user_id: int) -> None:
        """An agent's presence changed: the lines of their queues (present agents, the estimate)."""
        self._users.add(user_id)
        await self._settle()

    def idle(self) -> bool:
        return self._task is None or self._task.done()

    async def _settle(self) -> None:
        """Done in the handler, after the commit and before the request that changed the line
        answers (a few reads): which lines changed, and those that have been quiet recomputed.
        A line recomputed less than the interval ago waits for its turn: that is the task's."""
        if self._stopped():
            return
        await self._round()
        if self._due or self._conversations or self._users:
            if self.idle():
                self._task = asyncio.get_running_loop().create_task(self._run(), name="kefu-web-chat-queue")
            else:
                self._wake.set()  # a line may be due sooner than the task's next turn

    # -- the task ------------------------------------------------------------------------------------------
    def _stopped(self) -> bool:
        # The kernel shut down (its database is gone): drop the rest.
        return not getattr(self.kernel, "_started", True)

    async def _round(self) -> None:
        if self._conversations or self._users:
            try:
                await self._resolve()
            except Exception:
                log.exception("finding the lines of changed conversations failed")
        now = self.clock()
        for line in [line for line in self._due if now - self._last.get(line, -math.inf) >= self.interval]:
            self._due.discard(line)
            self._last[line] = self.clock()
            try:
                await self._publish_line(line)
            except Exception:
                log.exception("updating the queue positions of line %s failed", line)
        self._forget(self.clock())

    async def _run(self) -> None:
        while not self._stopped():
            self._wake.clear()
            await self._round()
            if self._conversations or self._users:
                continue  # more came in while this round ran
            if not self._due:
                return
            next_at = min(self._last.get(line, -math.inf) for line in self._due) + self.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_at - self.clock()))

    async def _resolve(self) -> None:
        """Touched conversations and agents -> the lines to recompute; tell visitors who left a line."""
        touched, self._conversations = self._conversations, {}
        users, self._users = sorted(self._users), set()
        gone: list[tuple[int, int]] = []  # (conversation, contact)
        async with self.kernel.db.reader() as session:
            if touched:
                rows = await session.execute(
                    select(
                        Conversation.id,
                        Conversation.contact_id,
                        Conversation.queue_id,
                        Conversation.status,
                        Conversation.assignee_id,
                    ).where(Conversation.id.in_(sorted(touched)), Conversation.channel == CHANNEL)
                )
                for conversation_id, contact_id, queue_id, status, assignee_id in rows.all():
                    waiting = status == Status.open.value and assignee_id is None
                    # An assigned conversation that changes status was in no line: nothing moves.
                    if waiting or assignee_id is None or touched[conversation_id]:
                        self._due.add((queue_id, CHANNEL))
                        if not waiting:
                            gone.append((conversation_id, contact_id))
            if users:
                teams = await session.scalars(
                    select(Team.id).join(Team.members).where(User.id.in_(users)).distinct()
                )
                self._due.update((int(team_id), CHANNEL) for team_id in teams)
                self._due.add((None, CHANNEL))  # conversations without a queue: anyone serves them
        for conversation_id, contact_id in gone:
            await self._send(contact_id, not_waiting(conversation_id))

    async def _publish_line(self, line: Line) -> None:
        queue_id, channel = line
        now = self.clock()
        rerank = {cid for cid, until in self._rerank.items() if until > now}
        async with self.kernel.db.reader() as session:
            found = await positions(session, queue_id, channel, self.limit, rerank=rerank)
        self.recomputed += 1
        for position in found:
            await self._send(position.contact_id, position.public())

    async def _send(self, contact_id: int, data: dict[str, Any]) -> None:
        conversation_id = int(data["conversation_id"])
        if self._sent.get(conversation_id) == data:
            return
        hub = self.kernel.hub
        if hub is None:
            return
        await hub.signal(f"visitor:{contact_id}", EVENT, data)
        self._sent[conversation_id] = data
        self._sent.move_to_end(conversation_id)
        while len(self._sent) > SENT_MEMORY:
            self._sent.popitem(last=False)

    def _forget(self, now: float) -> None:
        for line in [line for line, at in self._last.items() if now - at >= self.interval]:
            if line not in self._due:
                del self._last[line]
        for conversation_id in [cid for cid, until in self._rerank.items() if until <= now]:
            del self._rerank[conversation_id]


def queue_updates(kernel: Kernel) -> QueueUpdates:
    """The kernel's updater (created on first use, so each app, and each test, has its own)."""
    found = kernel.services.get(SERVICE_KEY)
    if not isinstance(found, QueueUpdates):
        found = QueueUpdates(kernel)
        kernel.services[SERVICE_KEY] = found
    return found


def register(kernel: Kernel) -> None:
    updates = queue_updates(kernel)

    async def on_queued(event: ConversationQueued) -> None:
        await updates.changed(event.conversation_id)

    async def on_assigned(event: ConversationAssigned) -> None:
        taken = event.previous_assignee_id is None and event.assignee_id is not None
        await updates.changed(event.conversation_id, taken=taken)

    async def on_status(event: ConversationStatusChanged) -> None:
        await updates.changed(event.conversation_id)

    async def on_updated(event: ConversationUpdated) -> None:
        if RANK_FIELDS.intersection(event.fields):
            await updates.changed(event.conversation_id, rerank="priority" in event.fields)

    async def on_presence(event: PresenceChanged) -> None:
        await updates.agent_changed(event.user_id)

    kernel.dispatcher.subscribe(ConversationQueued, on_queued)
    kernel.dispatcher.subscribe(ConversationAssigned, on_assigned)
    kernel.dispatcher.subscribe(ConversationStatusChanged, on_status)
    kernel.dispatcher.subscribe(ConversationUpdated, on_updated)
    kernel.dispatcher.subscribe(PresenceChanged, on_presence)
