"""Shapes of the visitor API (what the widget frame, or a custom chat UI, sends and gets)."""

from __future__ import annotations

from typing import Annotated, Any

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
