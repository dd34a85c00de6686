"""A waiting customer's place in line and an honest estimate of the wait (SPEC B4: the widget's
queue position).

**Position.** The line of a conversation is every conversation waiting (``status == "open"``,
no assignee) in the same queue (``queue_id``, or no queue) and on the same channel. It is ranked
as the ACD ranks it: by ``rank_at`` (``waiting_since`` minus the head start of the customer's
tier and the priority; lower goes first), then by id. ``rank_at`` is NULL for a moment after a
conversation starts waiting (until routing's first decision): such a conversation is ranked by
the rank that decision will store (its tier's and priority's head start), computed here.
Position 1 is next.

**Estimated wait** (seconds, ``None`` when it cannot be honest):

* ``None`` when the queue is closed by its business hours, or when nobody of the queue is
  *present* (online, busy or in after-call work, with room for this channel at all): the
  widget then says so instead of showing a made-up time.
* With recent history — at least :data:`MIN_HISTORY` conversations of this queue and channel
  left the line (were assigned to an agent: the ``conversation.assigned`` audit entries from
  nobody to someone) in the last :data:`HISTORY_WINDOW` — the line moves at the observed rate:
  ``wait = position × window / served`` (3 served in 30 min, position 2 → 20 min).
* Otherwise, from capacity: ``wait = HANDLE_SECONDS × position / slots``, where ``slots`` is the
  sum of the present members' capacity for the channel (their own limit, else the channel's
  default) and :data:`HANDLE_SECONDS` a typical handling time of one contact.

It is a rough guide, not a promise: overflow queues, skills, preferred agents and customers
who give up are ignored. The widget shows whole minutes, rounded up (at least 1).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Team, User
from kefu.conversations import Contact, Conversation, Status
from kefu.platform.audit import AuditEntry
from kefu.platform.db import utcnow
from kefu.routing.hours import queue_hours
from kefu.routing.models import AgentCapacity, AgentPresence, ChannelSettings, CustomerTier
from kefu.routing.rules import PRIORITY_HEAD_START, PresenceState

HISTORY_WINDOW = timedelta(minutes=30)
MIN_HISTORY = 3  # fewer served conversations than this in the window: estimate from capacity
HANDLE_SECONDS = 300  # a typical contact's handling time when there is no recent history
LINE_LIMIT = 200  # live positions are computed for this many at the head of a line
PRESENT_STATES = (PresenceState.online.value, PresenceState.busy.value, PresenceState.after_call.value)
ASSIGNABLE_ROLES = ("agent", "supervisor", "admin")
ASSIGNED_ACTION = "conversation.assigned"


@dataclass(frozen=True)
class LineStats:
    """What the estimate of one line (queue and channel) is made of, at one moment."""

    present: int  # members of the queue present now, with room for the channel at all
    slots: int  # their capacity for the channel, summed
    served: int  # conversations of the line assigned within HISTORY_WINDOW
    open: bool  # the queue's business hours are open (or it has none)
    opens_at: datetime | None = None  # when it opens again, when closed

    def estimate(self, position: int) -> int | None:
        """Seconds until an agent takes the conversation at ``position``; None: no honest figure."""
        if not self.open or self.present <= 0 or self.slots <= 0:
            return None
        if self.served >= MIN_HISTORY:
            seconds = position * HISTORY_WINDOW.total_seconds() / self.served
        else:
            seconds = HANDLE_SECONDS * position / self.slots
        return max(0, math.ceil(seconds))

    @property
    def basis(self) -> str:
        if not self.open or self.present <= 0 or self.slots <= 0:
            return "none"
        return "history" if self.served >= MIN_HISTORY else "capacity"


@dataclass(frozen=True)
class Position:
    """One waiting conversation's place in its line."""

    conversation_id: int
    contact_id: int
    queue_id: int | None
    channel: str
    position: int  # 1 = next
    wait_seconds: int | None  # None: nobody present, or the queue is closed
    present: bool  # someone of the queue is present
    open: bool  # the queue's business hours are open
    opens_at: datetime | None = None
    basis: str = "none"  # how the wait was estimated: "history", "capacity" or "none"

    @property
    def wait_minutes(self) -> int | None:
        """The wait as the widget shows it: whole minutes, rounded up, at least 1."""
        if self.wait_seconds is None:
            return None
        return max(1, math.ceil(self.wait_seconds / 60))

    def public(self) -> dict[str, Any]:
        """What the customer may see (the widget's ``queue.position`` frame and endpoint)."""
        return {
            "conversation_id": self.conversation_id,
            "waiting": True,
            "position": self.position,
            "wait_seconds": self.wait_seconds,
            "wait_minutes": self.wait_minutes,
            "present": self.present,
            "open": self.open,
            "opens_at": self.opens_at.isoformat() if self.opens_at else None,
        }


def not_waiting(conversation_id: int) -> dict[str, Any]:
    """The public shape for a conversation that waits no more (taken, ended, or never queued)."""
    return {
        "conversation_id": conversation_id,
        "waiting": False,
        "position": None,
        "wait_seconds": None,
        "wait_minutes": None,
        "present": None,
        "open": None,
        "opens_at": None,
    }


# -- the line ------------------------------------------------------------------------------------------
def _rank_key() -> ColumnElement[datetime]:
    return func.coalesce(Conversation.rank_at, Conversation.waiting_since, Conversation.created_at)


def _in_line(queue_id: int | None, channel: str) -> list[ColumnElement[bool]]:
    return [
        Conversation.status == Status.open.value,
        Conversation.assignee_id.is_(None),
        Conversation.queue_id == queue_id if queue_id is not None else Conversation.queue_id.is_(None),
        Conversation.channel == channel,
    ]


@dataclass(frozen=True)
class _Tiers:
    head_starts: dict[str, int]
    default: str | None

    def head_start(self, tier: str | None, priority: str) -> float:
        key = tier if tier in self.head_starts else self.default
        return float(self.head_starts.get(key or "", 0) + PRIORITY_HEAD_START.get(priority, 0))


async def _tiers(session: AsyncSession) -> _Tiers:
    rows = (
        await session.execute(
            select(CustomerTier.key, CustomerTier.head_start_seconds, CustomerTier.is_default)
        )
    ).all()
    return _Tiers({key: seconds for key, seconds, _ in rows}, next((k for k, _, d in rows if d), None))


def _provisional(since: datetime, tiers: _Tiers, tier: str | None, priority: str) -> datetime:
    """The rank routing's next decision stores for a conversation (what ``rank_at`` will be)."""
    return since - timedelta(seconds=tiers.head_start(tier, priority))


async def line_stats(
    session: AsyncSession, queue_id: int | None, channel: str, now: datetime | None = None
) -> LineStats:
    """Presence, capacity, recent service and hours of one line (a few small queries)."""
    now = now or utcnow()
    hours = await queue_hours(session, queue_id, now)
    present = await _present_slots(session, queue_id, channel)
    served = await _served(session, queue_id, channel, now) if present else 0
    return LineStats(
        present=sum(1 for slots in present.values() if slots > 0),
        slots=sum(present.values()),
        served=served,
        open=hours.open,
        opens_at=hours.next_open_at,
    )


async def _present_slots(session: AsyncSession, queue_id: int | None, channel: str) -> dict[int, int]:
    """Present members of the queue (anyone present for no queue) -> their capacity for the channel."""
    query = (
        select(User.id)
        .join(AgentPresence, AgentPresence.user_id == User.id)
        .where(
            AgentPresence.state.in_(PRESENT_STATES),
            User.is_active.is_(True),
            User.role.in_(ASSIGNABLE_ROLES),
        )
    )
    if queue_id is not None:
        query = query.where(User.id.in_(select(User.id).join(User.teams).where(Team.id == queue_id)))
    user_ids = [int(uid) for uid in await session.scalars(query)]
    if not user_ids:
        return {}
    default = await session.scalar(
        select(ChannelSettings.default_capacity).where(ChannelSettings.channel == channel)
    )
    slots = dict.fromkeys(user_ids, int(default or 0))
    for user_id, most in await session.execute(
        select(AgentCapacity.user_id, AgentCapacity.max_concurrent).where(
            AgentCapacity.user_id.in_(user_ids), AgentCapacity.channel == channel
        )
    ):
        slots[int(user_id)] = max(0, int(most))
    return slots


def _detail(name: str) -> ColumnElement[int]:
    """An id in a ``conversation.assigned`` entry's details: assign_conversation passes them as
    ``details={...}`` (stored nested under "details"); a flat layout is read too."""
    return func.coalesce(
        AuditEntry.details[("details", name)].as_integer(), AuditEntry.details[name].as_integer()
    )


async def _served(session: AsyncSession, queue_id: int | None, channel: str, now: datetime) -> int:
    """Conversations of the line that an agent took (from nobody to someone) in the window."""
    queue, before, after = (_detail(name) for name in ("queue_id", "from", "to"))
    target_ids = await session.scalars(
        select(AuditEntry.target_id).where(
            AuditEntry.at >= now - HISTORY_WINDOW,
            AuditEntry.at <= now,
            AuditEntry.action == ASSIGNED_ACTION,
            AuditEntry.target_type == "conversation",
            before.is_(None),
            after.is_not(None),
            queue == queue_id if queue_id is not None else queue.is_(None),
        )
    )
    ids = {int(t) for t in target_ids if t and t.isdigit()}
    if not ids:
        return 0
    found = await session.scalar(
        select(func.count()).where(Conversation.id.in_(ids), Conversation.channel == channel)
    )
    return int(found or 0)


# -- one conversation ----------------------------------------------------------------------------------
async def queue_position(
    session: AsyncSession, conversation_id: int, now: datetime | None = None
) -> Position | None:
    """The conversation's place in its line and the estimated wait; None when it does not wait."""
    now = now or utcnow()
    row = (
        await session.execute(
            select(
                Conversation.contact_id,
                Conversation.queue_id,
                Conversation.channel,
                Conversation.status,
                Conversation.assignee_id,
                Conversation.rank_at,
                Conversation.waiting_since,
                Conversation.created_at,
                Conversation.priority,
                Contact.tier,
            )
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id == conversation_id)
        )
    ).one_or_none()
    if row is None:
        return None
    contact_id, queue_id, channel, status, assignee_id, rank_at, since, created, priority, tier = row
    if status != Status.open.value or assignee_id is not None:
        return None
    rank = rank_at or _provisional(since or created, await _tiers(session), tier, priority)
    key = _rank_key()
    ahead = await session.scalar(
        select(func.count()).where(
            *_in_line(queue_id, channel),
            Conversation.id != conversation_id,
            or_(key < rank, and_(key == rank, Conversation.id < conversation_id)),
        )
    )
    stats = await line_stats(session, queue_id, channel, now)
    return _position(conversation_id, contact_id, queue_id, channel, int(ahead or 0) + 1, stats)


def _position(
    conversation_id: int, contact_id: int, queue_id: int | None, channel: str, position: int, stats: LineStats
) -> Position:
    return Position(
        conversation_id=conversation_id,
        contact_id=contact_id,
        queue_id=queue_id,
        channel=channel,
        position=position,
        wait_seconds=stats.estimate(position),
        present=stats.present > 0 and stats.slots > 0,
        open=stats.open,
        opens_at=stats.opens_at,
        basis=stats.basis,
    )


# -- everyone in one line --------------------------------------------------------------------------------
async def positions(
    session: AsyncSession,
    queue_id: int | None,
    channel: str,
    limit: int = LINE_LIMIT,
    *,
    now: datetime | None = None,
    rerank: Collection[int] = (),
) -> list[Position]:
    """The first ``limit`` of one line, in order, each with its estimate (one query for the line).

    ``rerank``: conversations whose stored rank may be stale (their priority just changed and
    routing has not re-ranked them yet): ranked by their current tier and priority instead.
    """
    now = now or utcnow()
    rows = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.contact_id,
                Conversation.rank_at,
                Conversation.waiting_since,
                Conversation.created_at,
                Conversation.priority,
                Contact.tier,
            )
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(*_in_line(queue_id, channel))
            .order_by(_rank_key(), Conversation.id)
            .limit(max(0, limit))
        )
    ).all()
    if not rows:
        return []
    tiers = await _tiers(session) if any(r[2] is None or r[0] in rerank for r in rows) else None
    ranked: list[tuple[datetime, int, int]] = []
    for conversation_id, contact_id, rank_at, since, created, priority, tier in rows:
        rank = rank_at
        if tiers is not None and (rank is None or conversation_id in rerank):
            rank = _provisional(since or created, tiers, tier, priority)
        ranked.append((rank or since or created, conversation_id, contact_id))
    ranked.sort(key=lambda item: (item[0], item[1]))
    stats = await line_stats(session, queue_id, channel, now)
    return [
        _position(conversation_id, contact_id, queue_id, channel, n, stats)
        for n, (_, conversation_id, contact_id) in enumerate(ranked, start=1)
    ]
