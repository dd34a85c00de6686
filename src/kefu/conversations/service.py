"""Every write to conversations. Services record events and audit entries; they never commit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from kefu.accounts import User, users_by_ids
from kefu.conversations.events import (
    ConversationAssigned,
    ConversationOpened,
    ConversationQueued,
    ConversationRead,
    ConversationStatusChanged,
    ConversationUpdated,
    MessagePosted,
    MessageRevised,
    NotificationCreated,
)
from kefu.conversations.models import (
    Attachment,
    Category,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    MessageRevision,
    Notification,
)
from kefu.conversations.rules import (
    BUILTIN_CATEGORIES,
    MAX_BODY_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    REOPENED_BY_CUSTOMER,
    TRANSITIONS,
    AuthorKind,
    Channel,
    Priority,
    Status,
    display_number,
)
from kefu.conversations.views import MessageView, attachment_summary, message_view
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.platform.events import record_event
from kefu.platform.validation import clean_name

CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_MENTION_PART = r"[^\s@,，。:：;；!！?？()（）]{1,100}"
# @name, or @an.email@address (the part after a second @ is the address's domain).
MENTION = re.compile(rf"@({_MENTION_PART}(?:@{_MENTION_PART})?)")
PREVIEW_CHARS = 140


@dataclass(frozen=True)
class Author:
    """Who writes a message: a customer (contact), an agent (user), the bot or the system."""

    kind: AuthorKind
    name: str = ""
    user_id: int | None = None
    contact_id: int | None = None

    @classmethod
    def agent(cls, user_id: int, name: str) -> Author:
        return cls(AuthorKind.agent, name, user_id=user_id)

    @classmethod
    def customer(cls, contact_id: int, name: str = "") -> Author:
        return cls(AuthorKind.customer, name, contact_id=contact_id)

    @classmethod
    def system(cls) -> Author:
        return cls(AuthorKind.system)

    @classmethod
    def bot(cls, name: str = "") -> Author:
        return cls(AuthorKind.bot, name)


@dataclass(frozen=True)
class Posted:
    message: Message
    created: bool  # False: the client id was seen before and this is the stored message
    attachments: tuple[Attachment, ...] = ()

    @property
    def view(self) -> MessageView:
        """The message as callers answer it, without reading it back."""
        return message_view(self.message, self.attachments)


# -- contacts ------------------------------------------------------------------------------------


async def resolve_contact(
    session: AsyncSession,
    *,
    kind: str,
    value: str,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Contact:
    """The contact known by identity ``kind:value``, created on first sight; details refreshed."""
    now = utcnow()
    found = await session.scalar(
        select(Contact)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
        .where(ContactIdentity.kind == kind, ContactIdentity.value == value)
    )
    if found is None:
        found = Contact(
            name=name[:100],
            email=email,
            phone=phone,
            attributes=dict(attributes or {}),
            created_at=now,
            updated_at=now,
            last_seen_at=now,
        )
        session.add(found)
        await session.flush()
        try:
            async with session.begin_nested():
                session.add(ContactIdentity(contact_id=found.id, kind=kind, value=value, created_at=now))
        except IntegrityError as exc:  # two first contacts at once: the other one won
            raise Conflict("This visitor was registered at the same moment; try again.") from exc
        return found
    changed = False
    for attr, new in (("name", name[:100] if name else None), ("email", email), ("phone", phone)):
        if new and getattr(found, attr) != new:
            setattr(found, attr, new)
            changed = True
    if attributes:
        merged = {**found.attributes, **attributes}
        if merged != found.attributes:
            found.attributes = merged
            changed = True
    if changed:
        found.updated_at = now
    found.last_seen_at = now
    return found


# -- conversations -------------------------------------------------------------------------------


async def open_conversation(
    session: AsyncSession,
    *,
    channel: Channel,
    contact_id: int,
    queue_id: int | None = None,
    subject: str = "",
    category_id: int | None = None,
    priority: Priority = Priority.normal,
    meta: dict[str, Any] | None = None,
) -> Conversation:
    now = utcnow()
    conversation = Conversation(
        channel=channel.value,
        contact_id=contact_id,
        queue_id=queue_id,
        status=Status.open.value,
        priority=priority.value,
        category_id=category_id,
        tags=[],
        subject=subject[:200],
        meta=dict(meta or {}),
        last_seq=0,
        last_message_preview="",
        customer_last_read_seq=0,
        agent_last_read_seq=0,
        waiting_since=now,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    await session.flush()
    number = display_number(conversation.id)
    record_event(session, ConversationOpened(conversation.id, number, channel.value, contact_id, queue_id))
    record_event(session, ConversationQueued(conversation.id, queue_id))
    return conversation


async def get_for_update(session: AsyncSession, conversation_id: int) -> Conversation:
    """The conversation, current and locked against other writers until this transaction ends.

    On SQLite the write transaction holds the database's single write lock from its first
    statement (``BEGIN IMMEDIATE``), so a copy already loaded in it is current: no second read.
    On PostgreSQL, ``SELECT … FOR UPDATE`` takes the row lock and refreshes a loaded copy.
    """
    if _dialect(session) == "sqlite":
        conversation = await session.get(Conversation, conversation_id)
    else:
        conversation = await session.scalar(
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    assert bind is not None, "kefu's sessions are bound to an engine"
    return bind.dialect.name


def clean_body(body: str, *, allow_empty: bool = False) -> str:
    text = body.replace("\r\n", "\n").replace("\x00", "").strip()
    if not text and not allow_empty:
        raise InvalidInput("A message cannot be empty.", field="body")
    if len(text) > MAX_BODY_CHARS:
        raise InvalidInput(
            "A message is at most %(max)s characters.", field="body", params={"max": MAX_BODY_CHARS}
        )
    return text


async def post_message(
    session: AsyncSession,
    conversation_id: int,
    *,
    author: Author,
    body: str,
    is_note: bool = False,
    client_id: str | None = None,
    attachment_ids: Sequence[int] = (),
    meta: dict[str, Any] | None = None,
) -> Posted:
    """Append a message. Idempotent by ``client_id``: a retry returns the stored message.

    This is the hot path of every chat, so it costs three statements when nothing else is
    asked of it: the conversation (locked), one ``INSERT … ON CONFLICT DO NOTHING RETURNING``
    and, at commit, one ``UPDATE`` of the conversation.
    """
    if client_id is not None and not CLIENT_ID.match(client_id):
        raise InvalidInput("client_id: 1–64 letters, digits or _.:-", field="client_id")
    if is_note and author.kind is not AuthorKind.agent:
        raise InvalidInput("Only agents write internal notes.", field="is_note")
    text = clean_body(body, allow_empty=bool(attachment_ids))
    conversation = await get_for_update(session, conversation_id)
    if author.kind is AuthorKind.customer and author.contact_id != conversation.contact_id:
        raise PermissionDenied("This is not your conversation.")
    if client_id is not None and attachment_ids:
        # A retry's files are bound to the message already: answer it before checking them.
        earlier = await _sent_before(session, conversation_id, client_id)
        if earlier is not None:
            return earlier
    # Checked before anything is written (reads only, and only when files are sent).
    attachments = await _claim_attachments(session, conversation, author, attachment_ids)
    now = utcnow()
    # Under the lock taken above, the next number is the conversation's last one plus one:
    # concurrent senders queue on the lock and never share a sequence number.
    seq = conversation.last_seq + 1
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "seq": seq,
        "author_kind": author.kind.value,
        "author_user_id": author.user_id,
        "author_name": author.name[:100],
        "body": text,
        "is_note": is_note,
        "client_id": client_id,
        "meta": dict(meta or {}),
        "created_at": now,
        "edited_at": None,
        "deleted_at": None,
    }
    insert = (sqlite_insert if _dialect(session) == "sqlite" else pg_insert)(Message)
    message_id = await session.scalar(
        insert.values(values)
        .on_conflict_do_nothing(index_elements=[Message.conversation_id, Message.client_id])
        .returning(Message.id)
    )
    if message_id is None:  # this client id was sent before (a retry, another tab or node)
        assert client_id is not None
        earlier = await _sent_before(session, conversation_id, client_id)
        assert earlier is not None
        return earlier
    # The row is written: put it in the session as loaded, so nothing reads it back.
    message = Message(id=message_id, **values)
    make_transient_to_detached(message)
    session.add(message)
    for attachment in attachments:
        attachment.message_id = message.id
    conversation.last_seq = seq
    _after_message(session, conversation, message, author, now)
    record_event(
        session,
        MessagePosted(
            conversation_id=conversation_id,
            contact_id=conversation.contact_id,
            message_id=message.id,
            seq=seq,
            author_kind=message.author_kind,
            author_name=message.author_name,
            author_user_id=message.author_user_id,
            body=text,
            is_note=is_note,
            client_id=client_id,
            created_at=now.isoformat(),
            attachments=tuple(attachment_summary(a) for a in attachments),
            kind=str(message.meta.get("kind", "")),
            channel=conversation.channel,
            assignee_id=conversation.assignee_id,
            conversation_meta=dict(conversation.meta or {}),
            sla_state=conversation.sla_state,
        ),
    )
    if is_note:
        await _notify_mentions(session, conversation, message, author)
    return Posted(message, created=True, attachments=tuple(attachments))


async def _sent_before(session: AsyncSession, conversation_id: int, client_id: str) -> Posted | None:
    earlier = await session.scalar(
        select(Message).where(Message.conversation_id == conversation_id, Message.client_id == client_id)
    )
    if earlier is None:
        return None
    sent = await session.scalars(select(Attachment).where(Attachment.message_id == earlier.id))
    return Posted(earlier, created=False, attachments=tuple(sent))


def _after_message(
    session: AsyncSession, conversation: Conversation, message: Message, author: Author, now: datetime
) -> None:
    if not message.is_note:
        conversation.last_message_at = now
        preview = message.body or "📎"
        conversation.last_message_preview = preview[:PREVIEW_CHARS]
    if author.kind is AuthorKind.customer:
        conversation.last_customer_message_at = now
        conversation.customer_last_read_seq = message.seq
        if Status(conversation.status) in REOPENED_BY_CUSTOMER:
            previous = conversation.status
            conversation.status = Status.open.value
            conversation.snoozed_until = None
            conversation.resolved_at = None
            record_event(
                session,
                ConversationStatusChanged(
                    conversation.id, conversation.contact_id, Status.open.value, previous
                ),
            )
    elif author.kind is AuthorKind.agent and not message.is_note:
        if conversation.first_response_at is None:
            conversation.first_response_at = now
        conversation.agent_last_read_seq = message.seq
    conversation.updated_at = now


async def _claim_attachments(
    session: AsyncSession, conversation: Conversation, author: Author, ids: Sequence[int]
) -> list[Attachment]:
    if not ids:
        return []
    if len(ids) > 10:
        raise InvalidInput("At most 10 attachments per message.", field="attachment_ids")
    rows = list(
        await session.scalars(
            select(Attachment).where(
                Attachment.id.in_(set(ids)),
                Attachment.conversation_id == conversation.id,
                Attachment.message_id.is_(None),
                Attachment.uploader_kind == author.kind.value,
            )
        )
    )
    if author.kind is AuthorKind.agent:
        rows = [a for a in rows if a.uploader_user_id == author.user_id]
    if len(rows) != len(set(ids)):
        raise InvalidInput("An attachment is unknown, already sent or not yours.", field="attachment_ids")
    return rows


async def _notify_mentions(
    session: AsyncSession, conversation: Conversation, message: Message, author: Author
) -> None:
    names = {m.group(1).lower() for m in MENTION.finditer(message.body)}
    if not names:
        return
    users = await session.scalars(
        select(User).where(
            User.is_active.is_(True),
            func.lower(User.name).in_(names) | func.lower(User.email).in_(names),
        )
    )
    mentioned = sorted({u.id for u in users if u.id != author.user_id})
    if mentioned:
        message.meta = {**message.meta, "mentions": mentioned}
    number = display_number(conversation.id)
    for user_id in mentioned:
        await create_notification(
            session,
            user_id=user_id,
            kind="mention",
            conversation_id=conversation.id,
            message_id=message.id,
            actor_user_id=author.user_id,
            text=f"{author.name} @ {number}: {message.body[:200]}",
        )


async def create_notification(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    conversation_id: int,
    text: str,
    message_id: int | None = None,
    actor_user_id: int | None = None,
) -> Notification:
    notification = Notification(
        user_id=user_id,
        kind=kind,
        conversation_id=conversation_id,
        message_id=message_id,
        actor_user_id=actor_user_id,
        text=text[:300],
        created_at=utcnow(),
    )
    session.add(notification)
    await session.flush()
    record_event(
        session,
        NotificationCreated(
            notification.id,
            user_id,
            kind,
            conversation_id,
            notification.text,
            {"number": display_number(conversation_id)},
        ),
    )
    return notification


async def mark_notifications_read(
    session: AsyncSession, user_id: int, ids: Iterable[int] | None = None
) -> int:
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    result = await session.execute(stmt.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


# -- editing history -----------------------------------------------------------------------------


async def revise_message(
    session: AsyncSession, message_id: int, *, author: Author, body: str | None
) -> Message:
    """Edit (``body`` given) or delete (``body`` None) an own message; the old text is kept."""
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound("No such message.")
    own = (author.kind is AuthorKind.agent and message.author_user_id == author.user_id) or (
        author.kind is AuthorKind.customer
        and message.author_kind == AuthorKind.customer.value
        and author.contact_id is not None
        and await _contact_of(session, message.conversation_id) == author.contact_id
    )
    if not own:
        raise PermissionDenied("You can only change your own messages.")
    if message.deleted_at is not None:
        raise Conflict("This message was deleted.")
    action = "delete" if body is None else "edit"
    new_body = "" if body is None else clean_body(body, allow_empty=False)
    if action == "edit" and new_body == message.body:
        return message
    now = utcnow()
    session.add(
        MessageRevision(
            message_id=message.id,
            action=action,
            previous_body=message.body,
            user_id=author.user_id,
            created_at=now,
        )
    )
    message.body = new_body
    if action == "delete":
        message.deleted_at = now
    else:
        message.edited_at = now
    contact_id = await _contact_of(session, message.conversation_id)
    record_event(
        session,
        MessageRevised(
            message.conversation_id, contact_id, message.id, message.seq, action, new_body, message.is_note
        ),
    )
    return message


async def _contact_of(session: AsyncSession, conversation_id: int) -> int:
    contact_id = await session.scalar(
        select(Conversation.contact_id).where(Conversation.id == conversation_id)
    )
    if contact_id is None:
        raise NotFound("No such conversation.")
    return contact_id


# -- status, fields, assignment --------------------------------------------------------------------


async def change_status(
    session: AsyncSession,
    conversation_id: int,
    status: Status,
    *,
    actor: Actor,
    snoozed_until: datetime | None = None,
) -> Conversation:
    conversation = await get_for_update(session, conversation_id)
    current = Status(conversation.status)
    if status == current and status is not Status.snoozed:
        return conversation
    # Snoozed → snoozed only moves the wake-up time.
    if status != current and status not in TRANSITIONS[current]:
        raise Conflict(
            "A conversation cannot go from %(from)s to %(to)s.",
            field="status",
            params={"from": current.value, "to": status.value},
        )
    now = utcnow()
    if status is Status.snoozed:
        if snoozed_until is None or snoozed_until <= now:
            raise InvalidInput("Snooze until a time in the future.", field="snoozed_until")
        conversation.snoozed_until = snoozed_until
    else:
        conversation.snoozed_until = None
    if status is Status.resolved:
        conversation.resolved_at = now
    if status is Status.closed:
        conversation.closed_at = now
        conversation.resolved_at = conversation.resolved_at or now
    if status is Status.open:
        conversation.resolved_at = None
        conversation.closed_at = None
    conversation.status = status.value
    conversation.updated_at = now
    record_audit(
        session,
        actor,
        "conversation.status_changed",
        target_type="conversation",
        target_id=conversation.id,
        target_label=display_number(conversation.id),
        details={"from": current.value, "to": status.value},
    )
    record_event(
        session,
        ConversationStatusChanged(conversation.id, conversation.contact_id, status.value, current.value),
    )
    return conversation


def clean_tags(tags: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in tags:
        tag = " ".join(str(raw).split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidInput(
                "A tag is at most %(max)s characters.", field="tags", params={"max": MAX_TAG_CHARS}
            )
        if tag.lower() not in {t.lower() for t in cleaned}:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput("At most %(max)s tags.", field="tags", params={"max": MAX_TAGS})
    return cleaned


async def update_conversation(
    session: AsyncSession,
    conversation_id: int,
    *,
    actor: Actor,
    priority: Priority | None = None,
    category_id: int | None = None,
    clear_category: bool = False,
    tags: Iterable[str] | None = None,
    subject: str | None = None,
) -> Conversation:
    conversation = await get_for_update(session, conversation_id)
    changed: dict[str, Any] = {}
    if priority is not None and priority.value != conversation.priority:
        changed["priority"] = priority.value
        conversation.priority = priority.value
    if clear_category and conversation.category_id is not None:
        changed["category_id"] = None
        conversation.category_id = None
    elif category_id is not None and category_id != conversation.category_id:
        category = await session.get(Category, category_id)
        if category is None or not category.is_active:
            raise InvalidInput("No such category.", field="category_id")
        changed["category_id"] = category_id
        conversation.category_id = category_id
    if tags is not None:
        new_tags = clean_tags(tags)
        if new_tags != conversation.tags:
            changed["tags"] = new_tags
            conversation.tags = new_tags
    if subject is not None:
        new_subject = " ".join(subject.split())[:200]
        if new_subject != conversation.subject:
            changed["subject"] = new_subject
            conversation.subject = new_subject
    if changed:
        conversation.updated_at = utcnow()
        record_audit(
            session,
            actor,
            "conversation.updated",
            target_type="conversation",
            target_id=conversation.id,
            target_label=display_number(conversation.id),
            details=changed,
        )
        record_event(session, ConversationUpdated(conversation.id, tuple(sorted(changed))))
    return conversation


async def assign_conversation(
    session: AsyncSession,
    conversation_id: int,
    assignee_id: int | None,
    *,
    actor: Actor,
    queue_id: int | None = None,
    change_queue: bool = False,
    note: str = "",
    expect_unassigned: bool = False,
) -> Conversation:
    """Give the conversation to an agent (or back to its queue with ``None``).

    ``expect_unassigned`` makes automatic assignment safe under concurrency: it fails with
    Conflict when someone else took the conversation first.
    """
    conversation = await get_for_update(session, conversation_id)
    if expect_unassigned and conversation.assignee_id is not None:
        raise Conflict("The conversation was assigned meanwhile.")
    assignee: User | None = None
    if assignee_id is not None:
        found = await users_by_ids(session, [assignee_id])
        assignee = found.get(assignee_id)
        if assignee is None or not assignee.is_active:
            raise InvalidInput("No such active agent.", field="assignee_id")
    previous = conversation.assignee_id
    queue_changed = change_queue and queue_id != conversation.queue_id
    if previous == assignee_id and not queue_changed:
        return conversation
    now = utcnow()
    if queue_changed:
        conversation.queue_id = queue_id
    conversation.assignee_id = assignee_id
    conversation.waiting_since = None if assignee_id is not None else now
    conversation.updated_at = now
    record_audit(
        session,
        actor,
        "conversation.assigned",
        target_type="conversation",
        target_id=conversation.id,
        target_label=display_number(conversation.id),
        details={"from": previous, "to": assignee_id, "queue_id": conversation.queue_id, "note": note[:500]},
    )
    record_event(
        session,
        ConversationAssigned(
            conversation.id,
            conversation.contact_id,
            assignee_id,
            previous,
            conversation.queue_id,
            actor.user_id,
        ),
    )
    if assignee_id is None:
        record_event(session, ConversationQueued(conversation.id, conversation.queue_id))
    elif assignee_id != actor.user_id:
        await create_notification(
            session,
            user_id=assignee_id,
            kind="assigned",
            conversation_id=conversation.id,
            actor_user_id=actor.user_id,
            text=f"{display_number(conversation.id)}: {note[:200]}"
            if note
            else display_number(conversation.id),
        )
    return conversation


async def transfer_conversation(
    session: AsyncSession,
    conversation_id: int,
    *,
    actor: Actor,
    actor_name: str,
    to_user_id: int | None = None,
    to_queue_id: int | None = None,
    note: str = "",
) -> Conversation:
    """Hand over to another agent or queue, leaving an internal note and a line in the history."""
    if to_user_id is None and to_queue_id is None:
        raise InvalidInput("Choose an agent or a queue to transfer to.", field="to_user_id")
    note = note.strip()[:1000]
    conversation = await assign_conversation(
        session,
        conversation_id,
        to_user_id,
        actor=actor,
        queue_id=to_queue_id,
        change_queue=to_queue_id is not None,
        note=note,
    )
    if note and actor.user_id is not None:
        await post_message(
            session,
            conversation_id,
            author=Author.agent(actor.user_id, actor_name),
            body=note,
            is_note=True,
            meta={"kind": "transfer"},
        )
    await post_message(
        session,
        conversation_id,
        author=Author.system(),
        body="Conversation transferred",
        meta={"kind": "transfer", "to_user_id": to_user_id, "to_queue_id": conversation.queue_id},
    )
    return conversation


ESCALATION_ROLES = ("supervisor", "admin")


def raised(priority: str) -> Priority:
    """One step more urgent (urgent stays urgent)."""
    order = list(Priority)
    current = Priority(priority) if priority in Priority.__members__ else Priority.normal
    return order[min(order.index(current) + 1, len(order) - 1)]


async def escalate_conversation(
    session: AsyncSession,
    conversation_id: int,
    *,
    actor: Actor,
    actor_name: str,
    supervisor_id: int,
    note: str = "",
) -> Conversation:
    """Escalate (升级) to a supervisor: a transfer to them that also raises the priority one step.

    History and the SLA clocks go on as for any transfer; the audit log records the escalation.
    """
    found = (await users_by_ids(session, [supervisor_id])).get(supervisor_id)
    if found is None or not found.is_active or found.role not in ESCALATION_ROLES:
        raise InvalidInput("Escalate to an active supervisor or admin.", field="supervisor_id")
    conversation = await transfer_conversation(
        session, conversation_id, actor=actor, actor_name=actor_name, to_user_id=supervisor_id, note=note
    )
    before = conversation.priority
    after = raised(before)
    if after.value != before:
        await update_conversation(session, conversation_id, actor=actor, priority=after)
    record_audit(
        session,
        actor,
        "conversation.escalated",
        target_type="conversation",
        target_id=conversation.id,
        target_label=display_number(conversation.id),
        details={"to": supervisor_id, "priority": [before, after.value], "note": note.strip()[:500]},
    )
    return conversation


async def consult_colleague(
    session: AsyncSession,
    conversation_id: int,
    *,
    actor: Actor,
    actor_name: str,
    user_id: int,
    note: str,
) -> Posted:
    """Ask a colleague for advice (咨询) without handing over: an internal note naming them, and a
    notification that brings them to the conversation."""
    if actor.user_id is None:
        raise PermissionDenied("Only a person can consult a colleague.")
    if user_id == actor.user_id:
        raise InvalidInput("Consult someone else.", field="user_id")
    colleague = (await users_by_ids(session, [user_id])).get(user_id)
    if colleague is None or not colleague.is_active:
        raise InvalidInput("No such active agent.", field="user_id")
    text = note.strip()
    if not text:
        raise InvalidInput("Write what you would like to ask.", field="note")
    posted = await post_message(
        session,
        conversation_id,
        author=Author.agent(actor.user_id, actor_name),
        body=text[:2000],
        is_note=True,
        meta={"kind": "consult", "user_id": user_id, "user_name": colleague.name},
    )
    await create_notification(
        session,
        user_id=user_id,
        kind="consult",
        conversation_id=conversation_id,
        message_id=posted.message.id,
        actor_user_id=actor.user_id,
        text=f"{display_number(conversation_id)}: {text[:200]}",
    )
    return posted


async def mark_read(
    session: AsyncSession,
    conversation_id: int,
    *,
    reader: AuthorKind,
    seq: int,
    contact_id: int | None = None,
) -> None:
    """Move the customer's or the agents' read mark forward (never back)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation.")
    if reader is AuthorKind.customer and contact_id != conversation.contact_id:
        raise PermissionDenied("This is not your conversation.")
    seq = min(seq, conversation.last_seq)
    column = "customer_last_read_seq" if reader is AuthorKind.customer else "agent_last_read_seq"
    if seq <= getattr(conversation, column):
        return
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, getattr(Conversation, column) < seq)
        .values({column: seq})
    )
    if getattr(result, "rowcount", 0):
        record_event(session, ConversationRead(conversation_id, conversation.contact_id, reader.value, seq))


# -- categories ------------------------------------------------------------------------------------


async def ensure_builtin_categories(session: AsyncSession) -> None:
    existing = set(await session.scalars(select(Category.key).where(Category.key.is_not(None))))
    for position, (key, name) in enumerate(BUILTIN_CATEGORIES):
        if key not in existing:
            session.add(Category(key=key, name=name, position=position, is_active=True))
    await session.flush()


async def create_category(session: AsyncSession, actor: Actor, name: str) -> Category:
    name = clean_name(name, max_length=60)
    # SQLite's lower() folds ASCII only: compare exactly too, and let the unique name decide.
    taken = await session.scalar(
        select(Category.id).where((func.lower(Category.name) == name.lower()) | (Category.name == name))
    )
    if taken is not None:
        raise Conflict("A category with this name already exists.", field="name")
    position = (await session.scalar(select(func.max(Category.position)))) or 0
    category = Category(key=None, name=name, position=position + 1, is_active=True)
    try:
        async with session.begin_nested():
            session.add(category)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("A category with this name already exists.", field="name") from exc
    record_audit(
        session, actor, "category.created", target_type="category", target_id=category.id, target_label=name
    )
    return category


async def set_category_active(
    session: AsyncSession, actor: Actor, category_id: int, active: bool
) -> Category:
    category = await session.get(Category, category_id)
    if category is None:
        raise NotFound("No such category.")
    if category.is_active != active:
        category.is_active = active
        record_audit(
            session,
            actor,
            "category.enabled" if active else "category.disabled",
            target_type="category",
            target_id=category.id,
            target_label=category.name,
        )
    return category


# -- attachments -----------------------------------------------------------------------------------


async def add_attachment(
    session: AsyncSession,
    *,
    conversation_id: int,
    uploader: Author,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    storage_key: str,
) -> Attachment:
    """Record a stored upload (the caller has sniffed and saved the bytes)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation.")
    if uploader.kind is AuthorKind.customer and uploader.contact_id != conversation.contact_id:
        raise PermissionDenied("This is not your conversation.")
    attachment = Attachment(
        conversation_id=conversation_id,
        uploader_kind=uploader.kind.value,
        uploader_user_id=uploader.user_id,
        filename=filename[:200],
        content_type=content_type,
        size=size,
        sha256=sha256,
        storage_key=storage_key,
        created_at=utcnow(),
    )
    session.add(attachment)
    await session.flush()
    return attachment
