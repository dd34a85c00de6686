"""Every write of quick replies and macros, and applying a macro to a conversation.

Personal items belong to their owner alone; shared ones (no owner) need the
``replies.manage_shared`` permission to change. Services never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Permission, Principal
from kefu.admin import get_workspace_settings
from kefu.conversations import (
    Author,
    Priority,
    Status,
    change_status,
    get_conversation,
    post_message,
    update_conversation,
)
from kefu.platform.api import MAX_ID
from kefu.platform.audit import record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.platform.validation import clean_name, clean_text
from kefu.replies.models import Macro, QuickReply
from kefu.replies.rules import (
    ACTION_LABELS,
    MAX_BODY,
    MAX_GROUP,
    MAX_MACRO_NAME,
    MAX_TITLE,
    SHORTCUT,
    ReplyKind,
)
from kefu.replies.variables import check_variables, render, values_for

MACRO_STATUSES_ORDERED = [s for s in Status if s is not Status.snoozed]  # snoozing needs a time
MACRO_STATUSES = frozenset(MACRO_STATUSES_ORDERED)
MAX_MACRO_TAGS = 20
MAX_MACRO_TEXT = 10_000


# -- who may change what ---------------------------------------------------------------------------


def may_edit(principal: Principal, owner_id: int | None) -> bool:
    if owner_id is None:
        return principal.can(Permission.replies_manage_shared)
    return owner_id == principal.user_id


def _require_edit(principal: Principal, owner_id: int | None) -> None:
    if owner_id is None and not principal.can(Permission.replies_manage_shared):
        raise PermissionDenied("Only supervisors change shared quick replies and macros.")
    if owner_id is not None and owner_id != principal.user_id:
        raise PermissionDenied("You can only change your own quick replies and macros.")


# -- quick replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickReplyInput:
    shortcut: str
    title: str
    body: str
    group_name: str = ""
    kind: str = ReplyKind.reply.value


def clean_shortcut(raw: str) -> str:
    shortcut = raw.strip().lstrip("/").lower()
    if not shortcut:
        raise InvalidInput("This field is required.", field="shortcut")
    if not SHORTCUT.match(shortcut):
        raise InvalidInput("A shortcut is 1–40 lowercase letters, digits, - or _.", field="shortcut")
    return shortcut


def _clean_reply(data: QuickReplyInput) -> QuickReplyInput:
    body = clean_text(data.body, field="body", max_length=MAX_BODY, required=True)
    check_variables(body, field="body")
    group = " ".join(data.group_name.split())
    if group:
        group = clean_name(group, field="group_name", max_length=MAX_GROUP)
    try:
        kind = ReplyKind(data.kind).value
    except ValueError:
        raise InvalidInput("Choose reply, greeting or closing.", field="kind") from None
    return QuickReplyInput(
        shortcut=clean_shortcut(data.shortcut),
        title=clean_name(data.title, field="title", max_length=MAX_TITLE),
        body=body,
        group_name=group,
        kind=kind,
    )


async def _check_shortcut_free(
    session: AsyncSession, owner_id: int | None, shortcut: str, exclude_id: int | None
) -> None:
    owner = QuickReply.owner_id.is_(None) if owner_id is None else QuickReply.owner_id == owner_id
    query = select(QuickReply.id).where(owner, QuickReply.shortcut == shortcut)
    if exclude_id is not None:
        query = query.where(QuickReply.id != exclude_id)
    if await session.scalar(query.limit(1)) is not None:
        raise Conflict(
            "The shortcut /%(shortcut)s is already taken.", field="shortcut", params={"shortcut": shortcut}
        )


async def create_quick_reply(
    session: AsyncSession, principal: Principal, data: QuickReplyInput, *, shared: bool
) -> QuickReply:
    owner_id = None if shared else principal.user_id
    _require_edit(principal, owner_id)
    clean = _clean_reply(data)
    await _check_shortcut_free(session, owner_id, clean.shortcut, None)
    now = utcnow()
    reply = QuickReply(
        owner_id=owner_id,
        group_name=clean.group_name,
        kind=clean.kind,
        shortcut=clean.shortcut,
        title=clean.title,
        body=clean.body,
        use_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(reply)
    await session.flush()
    if shared:
        _audit_reply(session, principal, reply, "quick_reply.created")
    return reply


async def _editable_reply(session: AsyncSession, principal: Principal, reply_id: int) -> QuickReply:
    reply = await session.get(QuickReply, reply_id) if 1 <= reply_id <= MAX_ID else None
    if reply is None or (reply.owner_id is not None and reply.owner_id != principal.user_id):
        raise NotFound("No such quick reply.")  # others' personal replies are not even visible
    _require_edit(principal, reply.owner_id)
    return reply


async def update_quick_reply(
    session: AsyncSession,
    principal: Principal,
    reply_id: int,
    *,
    shortcut: str | None = None,
    title: str | None = None,
    body: str | None = None,
    group_name: str | None = None,
    kind: str | None = None,
) -> QuickReply:
    """Change the fields given (None keeps a field as it is)."""
    reply = await _editable_reply(session, principal, reply_id)
    clean = _clean_reply(
        QuickReplyInput(
            shortcut=reply.shortcut if shortcut is None else shortcut,
            title=reply.title if title is None else title,
            body=reply.body if body is None else body,
            group_name=reply.group_name if group_name is None else group_name,
            kind=reply.kind if kind is None else kind,
        )
    )
    await _check_shortcut_free(session, reply.owner_id, clean.shortcut, reply.id)
    reply.shortcut, reply.title, reply.body = clean.shortcut, clean.title, clean.body
    reply.group_name, reply.kind = clean.group_name, clean.kind
    reply.updated_at = utcnow()
    if reply.owner_id is None:
        _audit_reply(session, principal, reply, "quick_reply.updated")
    return reply


async def delete_quick_reply(session: AsyncSession, principal: Principal, reply_id: int) -> None:
    reply = await _editable_reply(session, principal, reply_id)
    if reply.owner_id is None:
        _audit_reply(session, principal, reply, "quick_reply.deleted")
    await session.delete(reply)


async def record_use(session: AsyncSession, principal: Principal, reply_id: int) -> None:
    """An agent inserted this quick reply (suggestions rank the most used first)."""
    reply = await session.get(QuickReply, reply_id) if 1 <= reply_id <= MAX_ID else None
    if reply is None or (reply.owner_id is not None and reply.owner_id != principal.user_id):
        raise NotFound("No such quick reply.")
    reply.use_count = QuickReply.use_count + 1


def _audit_reply(session: AsyncSession, principal: Principal, reply: QuickReply, action: str) -> None:
    record_audit(
        session,
        principal.actor,
        action,
        target_type="quick_reply",
        target_id=reply.id,
        target_label=f"/{reply.shortcut} {reply.title}"[:200],
    )


# -- macros ----------------------------------------------------------------------------------------


def _tags(raw: Any, field: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InvalidInput("A list of tags is expected.", field=field)
    tags: list[str] = []
    for tag in raw:
        tag = " ".join(tag.split())
        if len(tag) > 40:
            raise InvalidInput("A tag is at most %(max)s characters.", field=field, params={"max": 40})
        if tag and tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag)
    if len(tags) > MAX_MACRO_TAGS:
        raise InvalidInput("At most %(max)s tags.", field=field, params={"max": MAX_MACRO_TAGS})
    return tags


def _macro_text(raw: Any, field: str) -> str:
    if not isinstance(raw, str):
        raise InvalidInput("Text is expected.", field=field)
    text = clean_text(raw, field=field, max_length=MAX_MACRO_TEXT, required=True)
    check_variables(text, field=field)
    return text


def clean_actions(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a macro's actions; the result holds only the actions that do something."""
    unknown = sorted(set(raw) - set(ACTION_LABELS))
    if unknown:
        raise InvalidInput(
            "Unknown macro actions: %(names)s.", field="actions", params={"names": ", ".join(unknown)}
        )
    actions: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or value == "" or value == []:
            continue
        actions[key] = _clean_action(key, value)
    if not actions:
        raise InvalidInput("Choose at least one action.", field="actions")
    return {key: actions[key] for key in ACTION_LABELS if key in actions}


def _clean_action(key: str, value: Any) -> Any:
    if key == "status":
        if value not in {s.value for s in MACRO_STATUSES}:
            raise InvalidInput("Choose a status.", field="status")
        return value
    if key == "priority":
        if value not in {p.value for p in Priority}:
            raise InvalidInput("Choose a priority.", field="priority")
        return value
    if key == "category_id":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise InvalidInput("Choose a category.", field="category_id")
        return value
    if key in {"add_tags", "remove_tags"}:
        return _tags(value, key)
    return _macro_text(value, key)


async def create_macro(
    session: AsyncSession, principal: Principal, *, name: str, actions: Mapping[str, Any], shared: bool
) -> Macro:
    owner_id = None if shared else principal.user_id
    _require_edit(principal, owner_id)
    macro_name = clean_name(name, max_length=MAX_MACRO_NAME)
    clean = clean_actions(actions)
    now = utcnow()
    macro = Macro(
        owner_id=owner_id, name=macro_name, actions=clean, use_count=0, created_at=now, updated_at=now
    )
    session.add(macro)
    await session.flush()
    if shared:
        _audit_macro(session, principal, macro, "macro.created")
    return macro


async def visible_macro(session: AsyncSession, principal: Principal, macro_id: int) -> Macro:
    macro = await session.get(Macro, macro_id) if 1 <= macro_id <= MAX_ID else None
    if macro is None or (macro.owner_id is not None and macro.owner_id != principal.user_id):
        raise NotFound("No such macro.")
    return macro


async def update_macro(
    session: AsyncSession,
    principal: Principal,
    macro_id: int,
    *,
    name: str | None = None,
    actions: Mapping[str, Any] | None = None,
) -> Macro:
    macro = await visible_macro(session, principal, macro_id)
    _require_edit(principal, macro.owner_id)
    if name is not None:
        macro.name = clean_name(name, max_length=MAX_MACRO_NAME)
    if actions is not None:
        macro.actions = clean_actions(actions)
    macro.updated_at = utcnow()
    if macro.owner_id is None:
        _audit_macro(session, principal, macro, "macro.updated")
    return macro


async def delete_macro(session: AsyncSession, principal: Principal, macro_id: int) -> None:
    macro = await visible_macro(session, principal, macro_id)
    _require_edit(principal, macro.owner_id)
    if macro.owner_id is None:
        _audit_macro(session, principal, macro, "macro.deleted")
    await session.delete(macro)


def _audit_macro(session: AsyncSession, principal: Principal, macro: Macro, action: str) -> None:
    record_audit(
        session, principal.actor, action, target_type="macro", target_id=macro.id, target_label=macro.name
    )


async def rendering_values(
    session: AsyncSession, principal: Principal, conversation_id: int | None
) -> dict[str, str | None]:
    """The variable values for ``principal`` writing in a conversation (or in none yet)."""
    workspace = await get_workspace_settings(session)
    customer_name = customer_email = number = None
    if conversation_id is not None:
        row = await get_conversation(session, conversation_id)
        customer_name, customer_email, number = row.contact_name, row.contact_email or "", row.number
    return values_for(
        agent_id=principal.user_id,
        agent_name=principal.name,
        now=utcnow(),
        timezone=workspace.timezone,
        customer_name=customer_name,
        customer_email=customer_email,
        conversation_number=number,
    )


async def apply_macro(
    session: AsyncSession, principal: Principal, macro_id: int, conversation_id: int
) -> list[str]:
    """Run every action of the macro on the conversation, all in the caller's transaction.

    Any action that fails raises, and the caller's rollback undoes the ones before it.
    Returns the names of the actions applied, in order.
    """
    macro = await visible_macro(session, principal, macro_id)
    actions = clean_actions(macro.actions)
    conversation = await get_conversation(session, conversation_id)
    applied = await _apply_fields(session, principal, conversation_id, conversation.tags, actions)
    values = await rendering_values(session, principal, conversation_id)
    author = Author.agent(principal.user_id, principal.name)
    for key, is_note in (("reply", False), ("note", True)):
        if key in actions:
            text = render(actions[key], values)
            await post_message(session, conversation_id, author=author, body=text, is_note=is_note)
            applied.append(key)
    if "status" in actions:
        await change_status(session, conversation_id, Status(actions["status"]), actor=principal.actor)
        applied.append("status")
    macro.use_count = Macro.use_count + 1
    return applied


async def _apply_fields(
    session: AsyncSession,
    principal: Principal,
    conversation_id: int,
    current_tags: tuple[str, ...],
    actions: Mapping[str, Any],
) -> list[str]:
    applied = [key for key in ("priority", "category_id", "add_tags", "remove_tags") if key in actions]
    if not applied:
        return []
    tags: list[str] | None = None
    if "add_tags" in actions or "remove_tags" in actions:
        removed = {t.lower() for t in actions.get("remove_tags", [])}
        tags = [t for t in [*current_tags, *actions.get("add_tags", [])] if t.lower() not in removed]
    await update_conversation(
        session,
        conversation_id,
        actor=principal.actor,
        priority=Priority(actions["priority"]) if "priority" in actions else None,
        category_id=actions.get("category_id"),
        tags=tags,
    )
    return applied
