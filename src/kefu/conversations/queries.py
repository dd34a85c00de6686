"""Reads of conversations: the inbox lists and counts, one conversation, its history."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import User, list_teams
from kefu.conversations.models import (
    Attachment,
    Category,
    Contact,
    Conversation,
    Message,
    MessageRevision,
    Notification,
)
from kefu.conversations.rules import ACTIVE_STATUSES, Status, display_number, parse_number
from kefu.conversations.views import MessageView, message_view
from kefu.platform.api import MAX_ID
from kefu.platform.db import utcnow
from kefu.platform.errors import NotFound


@dataclass(frozen=True)
class InboxFilter:
    """Which conversations a list shows. ``view``: mine, unassigned, queue, all."""

    view: str = "mine"
    user_id: int | None = None
    queue_id: int | None = None
    statuses: tuple[str, ...] = tuple(s.value for s in ACTIVE_STATUSES)
    channel: str | None = None
    priority: str | None = None
    category_id: int | None = None
    tag: str | None = None
    q: str = ""


def _filtered(query: Select[Conversation, Contact], flt: InboxFilter) -> Select[Conversation, Contact]:
    if flt.view == "mine":
        query = query.where(Conversation.assignee_id == flt.user_id)
    elif flt.view == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None))
    elif flt.view == "queue":
        query = query.where(Conversation.queue_id == flt.queue_id)
    if flt.statuses:
        query = query.where(Conversation.status.in_(flt.statuses))
    if flt.channel:
        query = query.where(Conversation.channel == flt.channel)
    if flt.priority:
        query = query.where(Conversation.priority == flt.priority)
    if flt.category_id:
        query = query.where(Conversation.category_id == flt.category_id)
    if flt.tag:
        # Tags are a small JSON list; matching the quoted tag is portable across both databases.
        query = query.where(
            func.lower(cast(Conversation.tags, Text)).contains(f'"{flt.tag.lower()}"', autoescape=True)
        )
    q = flt.q.strip()
    if q:
        number = parse_number(q)
        like = f"%{_escape_like(q.lower())}%"
        clauses: list[ColumnElement[bool]] = [
            func.lower(Contact.name).like(like, escape="\\"),
            func.lower(Contact.email).like(like, escape="\\"),
            Contact.phone.like(like, escape="\\"),
            func.lower(Conversation.subject).like(like, escape="\\"),
            func.lower(Conversation.last_message_preview).like(like, escape="\\"),
        ]
        # A phone number also reads as a conversation number, beyond what an id column holds.
        if number is not None and number <= MAX_ID:
            clauses.append(Conversation.id == number)
        query = query.where(or_(*clauses))
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class ConversationRow:
    id: int
    number: str
    channel: str
    status: str
    priority: str
    subject: str
    contact_id: int
    contact_name: str
    contact_email: str | None
    queue_id: int | None
    assignee_id: int | None
    category_id: int | None
    tags: tuple[str, ...]
    last_seq: int
    last_message_at: Any
    last_message_preview: str
    waiting_since: Any
    agent_last_read_seq: int
    customer_last_read_seq: int
    first_response_at: Any
    resolved_at: Any
    snoozed_until: Any
    created_at: Any
    updated_at: Any
    meta: dict[str, Any] = field(default_factory=dict)
    sla_due_at: Any = None  # routing's SLA clocks: the nearest target still to meet
    sla_state: str = ""  # "" none, "ok", "warning", "breached"

    @property
    def sla_minutes_left(self) -> int | None:
        """Whole minutes until ``sla_due_at`` (negative once past); None without a due time."""
        if self.sla_due_at is None:
            return None
        seconds: float = (self.sla_due_at - utcnow()).total_seconds()
        return math.floor(seconds / 60)


def _row(conversation: Conversation, contact: Contact) -> ConversationRow:
    return ConversationRow(
        id=conversation.id,
        number=display_number(conversation.id),
        channel=conversation.channel,
        status=conversation.status,
        priority=conversation.priority,
        subject=conversation.subject,
        contact_id=contact.id,
        contact_name=contact.name,
        contact_email=contact.email,
        queue_id=conversation.queue_id,
        assignee_id=conversation.assignee_id,
        category_id=conversation.category_id,
        tags=tuple(conversation.tags or ()),
        last_seq=conversation.last_seq,
        last_message_at=conversation.last_message_at,
        last_message_preview=conversation.last_message_preview,
        waiting_since=conversation.waiting_since,
        agent_last_read_seq=conversation.agent_last_read_seq,
        customer_last_read_seq=conversation.customer_last_read_seq,
        first_response_at=conversation.first_response_at,
        resolved_at=conversation.resolved_at,
        snoozed_until=conversation.snoozed_until,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        meta=dict(conversation.meta or {}),
        sla_due_at=conversation.sla_due_at,
        sla_state=conversation.sla_state or "",
    )


async def list_conversations(
    session: AsyncSession,
    flt: InboxFilter,
    *,
    limit: int = 50,
    before_id: int | None = None,
    by_id: bool = False,
) -> list[ConversationRow]:
    """Newest activity first; ``by_id``: newest conversation first, so ``before_id`` pages exactly."""
    query = select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
    query = _filtered(query, flt)
    if before_id is not None:
        query = query.where(Conversation.id < before_id)
    if by_id:
        query = query.order_by(Conversation.id.desc()).limit(limit)
    else:
        query = query.order_by(
            func.coalesce(Conversation.last_message_at, Conversation.created_at).desc(),
            Conversation.id.desc(),
        ).limit(limit)
    return [_row(row[0], row[1]) for row in (await session.execute(query)).all()]


async def inbox_counts(
    session: AsyncSession, *, user_id: int, queue_ids: Sequence[int] = ()
) -> dict[str, int]:
    """Active conversations per view: mine, unassigned, all, and ``queue:{id}`` for each queue."""
    active = [s.value for s in ACTIVE_STATUSES]
    base = select(
        func.count().label("all"),
        func.count().filter(Conversation.assignee_id == user_id).label("mine"),
        func.count().filter(Conversation.assignee_id.is_(None)).label("unassigned"),
    ).where(Conversation.status.in_(active))
    row = (await session.execute(base)).one()
    counts = {"all": int(row.all), "mine": int(row.mine), "unassigned": int(row.unassigned)}
    if queue_ids:
        per_queue = await session.execute(
            select(Conversation.queue_id, func.count())
            .where(Conversation.status.in_(active), Conversation.queue_id.in_(list(queue_ids)))
            .group_by(Conversation.queue_id)
        )
        found = {int(qid or 0): int(n) for qid, n in per_queue.all()}
        for qid in queue_ids:
            counts[f"queue:{qid}"] = found.get(qid, 0)
    return counts


async def get_conversation(session: AsyncSession, conversation_id: int) -> ConversationRow:
    found = (
        await session.execute(
            select(Conversation, Contact)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id == conversation_id)
        )
    ).first()
    if found is None:
        raise NotFound("No such conversation.")
    return _row(found[0], found[1])


async def messages_after(
    session: AsyncSession,
    conversation_id: int,
    *,
    after_seq: int = 0,
    include_notes: bool,
    limit: int = 200,
) -> list[MessageView]:
    query = select(Message).where(Message.conversation_id == conversation_id, Message.seq > after_seq)
    if not include_notes:
        query = query.where(Message.is_note.is_(False))
    rows = list(await session.scalars(query.order_by(Message.seq).limit(limit)))
    return await _views(session, rows)


async def messages_before(
    session: AsyncSession,
    conversation_id: int,
    *,
    before_seq: int | None,
    include_notes: bool,
    limit: int = 50,
) -> list[MessageView]:
    """The latest ``limit`` messages before ``before_seq`` (all when None), oldest first."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    if not include_notes:
        query = query.where(Message.is_note.is_(False))
    rows = list(await session.scalars(query.order_by(Message.seq.desc()).limit(limit)))
    rows.reverse()
    return await _views(session, rows)


async def _views(session: AsyncSession, rows: list[Message]) -> list[MessageView]:
    by_message: dict[int, list[Attachment]] = {}
    if rows:
        attachments = await session.scalars(
            select(Attachment).where(Attachment.message_id.in_([m.id for m in rows]))
        )
        for attachment in attachments:
            assert attachment.message_id is not None
            by_message.setdefault(attachment.message_id, []).append(attachment)
    return [message_view(m, by_message.get(m.id, ())) for m in rows]


async def contact_conversations(
    session: AsyncSession, contact_id: int, *, channel: str | None = None, limit: int = 50
) -> list[ConversationRow]:
    """A contact's conversations, newest first (the history across channels)."""
    query = (
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.contact_id == contact_id)
    )
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    query = query.order_by(Conversation.id.desc()).limit(limit)
    return [_row(row[0], row[1]) for row in (await session.execute(query)).all()]


async def latest_active_conversation(session: AsyncSession, contact_id: int, channel: str) -> int | None:
    """The contact's newest conversation on ``channel`` that is not closed (resolved ones reopen)."""
    return await session.scalar(
        select(Conversation.id)
        .where(
            Conversation.contact_id == contact_id,
            Conversation.channel == channel,
            Conversation.status != Status.closed.value,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def get_contact(session: AsyncSession, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("No such contact.")
    return contact


async def get_attachment(session: AsyncSession, attachment_id: int) -> Attachment:
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


async def list_categories(session: AsyncSession, *, include_inactive: bool = False) -> list[Category]:
    query = select(Category).order_by(Category.position, Category.id)
    if not include_inactive:
        query = query.where(Category.is_active.is_(True))
    return list(await session.scalars(query))


async def list_notifications(
    session: AsyncSession,
    user_id: int,
    *,
    unread_only: bool = False,
    limit: int = 50,
    before_id: int | None = None,
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(await session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


async def unread_notification_count(session: AsyncSession, user_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def open_conversation_counts(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, int]:
    """Active conversations per agent (the simple assignment rule balances on this)."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Conversation.assignee_id, func.count())
        .where(
            Conversation.assignee_id.in_(list(user_ids)),
            Conversation.status.in_([s.value for s in ACTIVE_STATUSES]),
        )
        .group_by(Conversation.assignee_id)
    )
    found = {int(uid or 0): int(n) for uid, n in rows.all()}
    return {uid: found.get(uid, 0) for uid in user_ids}


async def waiting_conversations(session: AsyncSession, *, limit: int = 100) -> list[tuple[int, int | None]]:
    """(id, queue id) of active unassigned conversations, longest waiting first."""
    rows = await session.execute(
        select(Conversation.id, Conversation.queue_id)
        .where(
            Conversation.assignee_id.is_(None),
            Conversation.status == Status.open.value,
        )
        .order_by(func.coalesce(Conversation.waiting_since, Conversation.created_at), Conversation.id)
        .limit(limit)
    )
    return [(int(cid), qid) for cid, qid in rows.all()]


# -- the agent workspace -------------------------------------------------------------------------


@dataclass(frozen=True)
class Queue:
    id: int
    name: str


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    teams: tuple[str, ...]


async def agent_queues(session: AsyncSession, *, user_id: int, all_teams: bool) -> list[Queue]:
    """The queues (teams) an inbox shows: the user's own, or every team for supervisors."""
    return [
        Queue(team.id, team.name)
        for team in await list_teams(session)
        if all_teams or any(member.id == user_id for member in team.members)
    ]


async def assignable_agents(session: AsyncSession, *, limit: int = 500) -> list[Agent]:
    """Active users a conversation can go to, with their teams (for the assign/transfer form)."""
    teams_of: dict[int, list[str]] = {}
    for team in await list_teams(session):
        for member in team.members:
            teams_of.setdefault(member.id, []).append(team.name)
    users = await session.scalars(
        select(User).where(User.is_active.is_(True)).order_by(User.name, User.id).limit(limit)
    )
    return [Agent(u.id, u.name, tuple(teams_of.get(u.id, ()))) for u in users]


async def get_message(session: AsyncSession, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound("No such message.")
    return message


async def message_revisions(session: AsyncSession, message_id: int) -> list[MessageRevision]:
    return list(
        await session.scalars(
            select(MessageRevision)
            .where(MessageRevision.message_id == message_id)
            .order_by(MessageRevision.id)
        )
    )


async def get_category(session: AsyncSession, category_id: int) -> Category:
    category = await session.get(Category, category_id)
    if category is None:
        raise NotFound("No such category.")
    return category
