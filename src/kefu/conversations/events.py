"""Conversation events (past tense, published after commit).

Topics: ``conversation:{id}`` (agents following one conversation, notes included),
``inbox`` (agents' lists), ``visitor:{contact_id}`` (the customer's own widget; never notes
or internal fields), ``user:{id}`` (one agent's private notifications).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kefu.platform.events import INTERNAL, Event


@dataclass(frozen=True)
class ConversationOpened(Event):
    name: ClassVar[str] = "conversation.opened"
    conversation_id: int
    number: str
    channel: str
    contact_id: int
    queue_id: int | None

    def topics(self) -> Sequence[str]:
        return ("inbox",)


@dataclass(frozen=True)
class MessagePosted(Event):
    """A message was added. Notes go to agents only."""

    name: ClassVar[str] = "message.posted"
    conversation_id: int
    contact_id: int
    message_id: int
    seq: int
    author_kind: str
    author_name: str
    author_user_id: int | None
    body: str
    is_note: bool
    client_id: str | None
    created_at: str
    attachments: tuple[dict[str, Any], ...] = ()
    kind: str = ""
    # For handlers on the committing node (not published): the conversation as the message left it.
    channel: str = field(default="", metadata=INTERNAL)
    assignee_id: int | None = field(default=None, metadata=INTERNAL)
    conversation_meta: dict[str, Any] = field(default_factory=dict, metadata=INTERNAL)
    sla_state: str = field(default="", metadata=INTERNAL)  # "": no SLA clocks (routing's SLA skips it)

    def topics(self) -> Sequence[str]:
        if self.is_note:
            return (f"conversation:{self.conversation_id}",)
        return (f"conversation:{self.conversation_id}", f"visitor:{self.contact_id}", "inbox")


@dataclass(frozen=True)
class MessageRevised(Event):
    """A message was edited or deleted (its earlier text stays in the revisions)."""

    name: ClassVar[str] = "message.revised"
    conversation_id: int
    contact_id: int
    message_id: int
    seq: int
    action: str
    body: str
    is_note: bool

    def topics(self) -> Sequence[str]:
        if self.is_note:
            return (f"conversation:{self.conversation_id}",)
        return (f"conversation:{self.conversation_id}", f"visitor:{self.contact_id}")


@dataclass(frozen=True)
class ConversationStatusChanged(Event):
    name: ClassVar[str] = "conversation.status_changed"
    conversation_id: int
    contact_id: int
    status: str
    previous: str

    def topics(self) -> Sequence[str]:
        return (f"conversation:{self.conversation_id}", f"visitor:{self.contact_id}", "inbox")


@dataclass(frozen=True)
class ConversationUpdated(Event):
    """Fields agents see changed (priority, category, tags, queue…); clients refetch."""

    name: ClassVar[str] = "conversation.updated"
    conversation_id: int
    fields: tuple[str, ...]

    def topics(self) -> Sequence[str]:
        return (f"conversation:{self.conversation_id}", "inbox")


@dataclass(frozen=True)
class ConversationAssigned(Event):
    name: ClassVar[str] = "conversation.assigned"
    conversation_id: int
    contact_id: int
    assignee_id: int | None
    previous_assignee_id: int | None
    queue_id: int | None
    by_user_id: int | None

    def topics(self) -> Sequence[str]:
        topics = [f"conversation:{self.conversation_id}", "inbox"]
        topics += [f"user:{uid}" for uid in {self.assignee_id, self.previous_assignee_id} if uid is not None]
        return topics


@dataclass(frozen=True)
class ConversationQueued(Event):
    """A conversation waits for an agent (new, transferred to a queue, or unassigned)."""

    name: ClassVar[str] = "conversation.queued"
    conversation_id: int
    queue_id: int | None


@dataclass(frozen=True)
class ConversationRead(Event):
    """The customer or the agents read up to ``seq`` (drives the read marks on both sides)."""

    name: ClassVar[str] = "conversation.read"
    conversation_id: int
    contact_id: int
    reader: str
    seq: int

    def topics(self) -> Sequence[str]:
        return (f"conversation:{self.conversation_id}", f"visitor:{self.contact_id}")


@dataclass(frozen=True)
class NotificationCreated(Event):
    name: ClassVar[str] = "notification.created"
    notification_id: int
    user_id: int
    kind: str
    conversation_id: int
    text: str
    extra: dict[str, Any] = field(default_factory=dict)

    def topics(self) -> Sequence[str]:
        return (f"user:{self.user_id}",)
