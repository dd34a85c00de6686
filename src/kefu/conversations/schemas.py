"""API shapes of the agent workspace: conversations, messages, notifications, categories."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from kefu.conversations.models import Category, Contact, Notification
from kefu.conversations.queries import ConversationRow
from kefu.conversations.rules import MAX_BODY_CHARS, MAX_TAG_CHARS, MAX_TAGS, Priority, Status, display_number
from kefu.conversations.views import MessageView
from kefu.platform.api import MAX_ID, ApiModel, BodyId, SafeStr

Body = Annotated[SafeStr, Field(max_length=MAX_BODY_CHARS)]
ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
Tag = Annotated[SafeStr, Field(max_length=MAX_TAG_CHARS)]
CategoryName = Annotated[SafeStr, Field(min_length=1, max_length=60)]


class AttachmentOut(ApiModel):
    id: int
    filename: str
    content_type: str
    size: int
    is_image: bool
    url: str

    @classmethod
    def of(cls, summary: dict[str, Any]) -> AttachmentOut:
        return cls(**summary, url=f"/api/v1/attachments/{summary['id']}")


class ConversationOut(ApiModel):
    id: int
    number: str = Field(description="The number people quote, e.g. KF-10001.")
    channel: str
    status: Status
    priority: Priority
    subject: str
    contact_id: int
    contact_name: str
    queue_id: int | None
    assignee_id: int | None
    category_id: int | None
    tags: list[str]
    last_seq: int
    last_message_at: datetime | None
    last_message_preview: str
    unread: bool = Field(description="Messages after the agents' read mark.")
    agent_last_read_seq: int
    customer_last_read_seq: int
    waiting_since: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ConversationRow) -> ConversationOut:
        return cls(
            id=row.id,
            number=row.number,
            channel=row.channel,
            status=Status(row.status),
            priority=Priority(row.priority),
            subject=row.subject,
            contact_id=row.contact_id,
            contact_name=row.contact_name,
            queue_id=row.queue_id,
            assignee_id=row.assignee_id,
            category_id=row.category_id,
            tags=list(row.tags),
            last_seq=row.last_seq,
            last_message_at=row.last_message_at,
            last_message_preview=row.last_message_preview,
            unread=row.last_seq > row.agent_last_read_seq,
            agent_last_read_seq=row.agent_last_read_seq,
            customer_last_read_seq=row.customer_last_read_seq,
            waiting_since=row.waiting_since,
            first_response_at=row.first_response_at,
            resolved_at=row.resolved_at,
            snoozed_until=row.snoozed_until,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class ContactOut(ApiModel):
    id: int
    name: str
    email: str | None
    phone: str | None
    attributes: dict[str, Any]

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls(
            id=contact.id,
            name=contact.name,
            email=contact.email,
            phone=contact.phone,
            attributes=dict(contact.attributes or {}),
        )


class ConversationDetail(ConversationOut):
    contact: ContactOut


class Counts(ApiModel):
    mine: int
    unassigned: int
    all: int
    queues: dict[str, int] = Field(description="Active conversations per queue id.")


class MessageOut(ApiModel):
    id: int
    seq: int
    author_kind: str
    author_name: str
    author_user_id: int | None
    body: str
    is_note: bool
    client_id: str | None
    kind: str = Field(description="System lines: transfer, welcome, auto_reply…; empty otherwise.")
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    attachments: list[AttachmentOut]

    @classmethod
    def of(cls, view: MessageView) -> MessageOut:
        return cls(
            id=view.id,
            seq=view.seq,
            author_kind=view.author_kind,
            author_name=view.author_name,
            author_user_id=view.author_user_id,
            body=view.body,
            is_note=view.is_note,
            client_id=view.client_id,
            kind=view.kind,
            created_at=view.created_at,
            edited_at=view.edited_at,
            deleted_at=view.deleted_at,
            attachments=[AttachmentOut.of(a) for a in view.attachments],
        )


class MessageCreate(ApiModel):
    body: Body = ""
    is_note: bool = Field(False, description="An internal note: agents only, never the customer.")
    client_id: ClientId | None = Field(None, description="Sending again with the same id is a no-op.")
    attachment_ids: list[BodyId] = Field(default_factory=list, max_length=10)


class MessageEdit(ApiModel):
    body: Annotated[SafeStr, Field(min_length=1, max_length=MAX_BODY_CHARS)]


class StatusChange(ApiModel):
    status: Status
    snoozed_until: datetime | None = Field(None, description="Required to snooze; a future moment.")


class ConversationPatch(ApiModel):
    priority: Priority | None = None
    category_id: Annotated[int, Field(ge=0, le=MAX_ID)] | None = Field(
        None, description="0 clears the category."
    )
    tags: list[Tag] | None = Field(None, max_length=MAX_TAGS * 2)
    subject: Annotated[SafeStr, Field(max_length=200)] | None = None


class AssignBody(ApiModel):
    assignee_id: BodyId | None = Field(description="An agent's id; null returns it to its queue.")
    expect_unassigned: bool = Field(False, description="Fail with 409 when someone took it meanwhile.")


class TransferBody(ApiModel):
    to_user_id: BodyId | None = None
    to_queue_id: BodyId | None = None
    note: Annotated[SafeStr, Field(max_length=1000)] = ""


class ConsultBody(ApiModel):
    user_id: BodyId = Field(description="The colleague to ask.")
    note: Annotated[SafeStr, Field(min_length=1, max_length=2000)] = Field(
        description="What you would like to ask."
    )


class ReadBody(ApiModel):
    seq: Annotated[int, Field(ge=0, le=MAX_ID)]


class NotificationOut(ApiModel):
    id: int
    kind: str
    conversation_id: int
    number: str
    message_id: int | None
    text: str
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(
            id=n.id,
            kind=n.kind,
            conversation_id=n.conversation_id,
            number=display_number(n.conversation_id),
            message_id=n.message_id,
            text=n.text,
            created_at=n.created_at,
            read_at=n.read_at,
        )


class NotificationsRead(ApiModel):
    ids: list[BodyId] | None = Field(None, max_length=200, description="Omit to mark all read.")


class ReadCount(ApiModel):
    marked: int


class CategoryOut(ApiModel):
    id: int
    key: str | None
    name: str
    position: int
    is_active: bool

    @classmethod
    def of(cls, category: Category) -> CategoryOut:
        return cls.model_validate(category, from_attributes=True)


class CategoryCreate(ApiModel):
    name: CategoryName


class CategoryPatch(ApiModel):
    is_active: bool
