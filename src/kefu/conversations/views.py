"""Read-only shapes of messages that services, queries and channels hand around."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kefu.conversations.models import Attachment, Message


def attachment_summary(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "is_image": attachment.content_type.startswith("image/"),
    }


@dataclass(frozen=True)
class MessageView:
    id: int
    seq: int
    author_kind: str
    author_name: str
    author_user_id: int | None
    body: str
    is_note: bool
    client_id: str | None
    kind: str
    meta: dict[str, Any]
    created_at: Any
    edited_at: Any
    deleted_at: Any
    attachments: tuple[dict[str, Any], ...]

    def public(self) -> dict[str, Any]:
        """What a customer's widget gets (never notes: callers filter them out)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "author_kind": self.author_kind,
            "author_name": self.author_name,
            "body": self.body,
            "client_id": self.client_id,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "edited": self.edited_at is not None,
            "deleted": self.deleted_at is not None,
            "attachments": list(self.attachments),
        }


def message_view(message: Message, attachments: Iterable[Attachment] = ()) -> MessageView:
    meta = dict(message.meta or {})
    return MessageView(
        id=message.id,
        seq=message.seq,
        author_kind=message.author_kind,
        author_name=message.author_name,
        author_user_id=message.author_user_id,
        body=message.body,
        is_note=message.is_note,
        client_id=message.client_id,
        kind=str(meta.get("kind", "")),
        meta=meta,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted_at=message.deleted_at,
        attachments=tuple(attachment_summary(a) for a in sorted(attachments, key=lambda a: a.id)),
    )
