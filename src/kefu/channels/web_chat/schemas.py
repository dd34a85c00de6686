"""Shapes of the visitor API (what the widget frame, or a custom chat UI, sends and gets)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from kefu.platform.api import ApiModel, BodyId, SafeStr

ClientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Body = Annotated[SafeStr, Field(max_length=10_000)]
AttachmentIds = Annotated[list[BodyId], Field(max_length=10)]


class SessionIn(ApiModel):
    visitor_token: Annotated[str | None, Field(max_length=2000)] = None
    user_id: Annotated[SafeStr | None, Field(max_length=100, description="The host site's user id.")] = None
    user_hash: Annotated[
        str | None, Field(max_length=128, description="hex(HMAC-SHA256(identity secret, user_id))")
    ] = None
    name: Annotated[SafeStr | None, Field(max_length=100)] = None
    email: Annotated[SafeStr | None, Field(max_length=254)] = None


class SessionOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Visitor <token>`; keep it for the next visit.")
    contact_id: int
    widget: dict[str, Any]
    online: bool = Field(description="Someone can answer now (business hours and an available agent).")
    mode: Literal["chat", "offline_message", "callback", "bot_only"] = Field(
        "chat",
        description="What the widget shows first: the chat; the 留言 form (nobody can answer); the "
        "callback form, or the chat answered by the bot only (the queue is closed and set so).",
    )
    opens_at: datetime | None = Field(
        None, description="When the widget's queue opens again, while its business hours are closed."
    )
    conversation: dict[str, Any] | None = Field(
        None, description="The visitor's open conversation through this widget, if any."
    )
    transcript_by_email: bool = Field(
        False, description="The visitor may ask for a chat's transcript by email (outgoing mail is set up)."
    )


class MessageIn(ApiModel):
    client_id: ClientId = Field(description="A random id made by the client; a retry with it is not doubled.")
    body: Body = ""
    attachment_ids: AttachmentIds = Field(default_factory=list)


class StartIn(ApiModel):
    prechat: dict[str, Annotated[SafeStr, Field(max_length=500)]] = Field(
        default_factory=dict, description="Values of the widget's pre-chat form, by field name."
    )
    message: MessageIn | None = None


class ConversationOut(BaseModel):
    conversation: dict[str, Any]
    messages: list[dict[str, Any]] = Field(default_factory=list)


class ConversationsOut(BaseModel):
    items: list[dict[str, Any]]


class MessagesOut(BaseModel):
    items: list[dict[str, Any]]


class MessageOut(BaseModel):
    message: dict[str, Any]
    created: bool


class ReadIn(ApiModel):
    seq: Annotated[int, Field(ge=0, le=2**31 - 1)]


class OfflineIn(ApiModel):
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)]
    email: Annotated[SafeStr | None, Field(max_length=254)] = None
    phone: Annotated[SafeStr | None, Field(max_length=40)] = None
    body: Body
    client_id: ClientId | None = None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    is_image: bool
    url: str


class QueueOut(BaseModel):
    """A waiting conversation's place in line (also the data of the socket's ``queue.position`` signal)."""

    conversation_id: int
    waiting: bool = Field(
        description="The conversation waits for an agent (false: taken, ended, or not queued)."
    )
    position: int | None = Field(None, description="1 = next.")
    wait_seconds: int | None = Field(
        None, description="Estimated wait; null when nobody of the queue is present or it is closed."
    )
    wait_minutes: int | None = Field(
        None, description="The estimate in whole minutes, rounded up (at least 1)."
    )
    present: bool | None = Field(
        None, description="Someone of the queue is present (online, busy, after-call)."
    )
    open: bool | None = Field(None, description="The queue's business hours are open.")
    opens_at: str | None = Field(None, description="When a closed queue opens again (ISO 8601).")


class LeaveMessageIn(ApiModel):
    email: Annotated[
        SafeStr | None, Field(max_length=254, description="Where we reply (default: the one we have).")
    ] = None
    body: Annotated[SafeStr, Field(max_length=10_000, description="Anything to add to the message.")] = ""
    client_id: ClientId | None = None


class LeaveMessageOut(BaseModel):
    conversation: dict[str, Any]
    email: str = Field(description="The address we will reply to.")


class CallbackIn(ApiModel):
    phone: Annotated[SafeStr, Field(max_length=40, description="Digits, +, spaces and dashes; 5–20 digits.")]
    preferred_time: Annotated[
        SafeStr | None, Field(max_length=100, description="When to call, in words.")
    ] = None


class CallbackStartIn(CallbackIn):
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)]
    body: Body = ""
    client_id: ClientId | None = None
