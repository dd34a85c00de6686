"""HTML pages of the agent workspace: the inbox, one conversation, notifications, categories.

Lists and the history are server-rendered partials that ``workspace.js`` refetches when a
realtime event arrives; every form also works without JavaScript (post, then redirect).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import Permission, Principal, require
from kefu.conversations import queries, service
from kefu.conversations.queries import ConversationRow, InboxFilter, Queue
from kefu.conversations.rules import (
    ACTIVE_STATUSES,
    CHANNEL_LABELS,
    PRIORITY_LABELS,
    STATUS_LABELS,
    TRANSITIONS,
    Channel,
    Priority,
    Status,
)
from kefu.conversations.service import Author
from kefu.platform.api import MAX_ID
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from kefu.platform.i18n import N_, gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.web import Form, field_errors

router = APIRouter(include_in_schema=False)

View = Annotated[Principal, Depends(require(Permission.conversations_view))]
Reply = Annotated[Principal, Depends(require(Permission.conversations_reply))]
ManageCategories = Annotated[Principal, Depends(require(Permission.categories_manage))]

VIEWS = ("mine", "unassigned", "queue", "all")
LIST_LIMIT = 100
HISTORY_LIMIT = 100
FORM_ERRORS = (InvalidInput, Conflict, PermissionDenied, NotFound)
ANY_STATUS = "any"


def _id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("No such item.")
    return value


def _clean_text(raw: str | None, limit: int = 100) -> str:
    """Search text without control characters (PostgreSQL cannot compare a NUL)."""
    return "".join(ch for ch in (raw or "")[:limit] if unicodedata.category(ch) != "Cc").strip()


def _int(raw: str | None) -> int | None:
    value = (raw or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 and int(value) >= 1 else None


def _enum_value(raw: str | None, allowed: Any) -> str | None:
    return raw if raw in {item.value for item in allowed} else None


@dataclass(frozen=True)
class InboxQuery:
    """The inbox's view and filters as they come in the URL (anything odd is ignored)."""

    view: str = "mine"
    queue_id: int | None = None
    status: str = ""
    channel: str | None = None
    priority: str | None = None
    category_id: int | None = None
    tag: str = ""
    q: str = ""

    @classmethod
    def of(cls, request: Request) -> InboxQuery:
        params = request.query_params
        view = params.get("view") or "mine"
        queue_id = _int(params.get("queue_id"))
        if view not in VIEWS or (view == "queue" and queue_id is None):
            view = "mine"
        status = params.get("status") or ""
        if status != ANY_STATUS and _enum_value(status, Status) is None:
            status = ""
        return cls(
            view=view,
            queue_id=queue_id if view == "queue" else None,
            status=status,
            channel=_enum_value(params.get("channel"), Channel),
            priority=_enum_value(params.get("priority"), Priority),
            category_id=_int(params.get("category_id")),
            tag=_clean_text(params.get("tag"), 40),
            q=_clean_text(params.get("q")),
        )

    def filter(self, user_id: int) -> InboxFilter:
        if self.status == ANY_STATUS:
            statuses: tuple[str, ...] = ()
        elif self.status:
            statuses = (self.status,)
        else:
            statuses = tuple(sorted(s.value for s in ACTIVE_STATUSES))
        return InboxFilter(
            view=self.view,
            user_id=user_id,
            queue_id=self.queue_id,
            statuses=statuses,
            channel=self.channel,
            priority=self.priority,
            category_id=self.category_id,
            tag=self.tag or None,
            q=self.q,
        )

    def params(self, **override: Any) -> str:
        values: dict[str, Any] = {
            "view": self.view,
            "queue_id": self.queue_id,
            "status": self.status,
            "channel": self.channel,
            "priority": self.priority,
            "category_id": self.category_id,
            "tag": self.tag,
            "q": self.q,
        }
        values.update(override)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def waited(since: datetime | None, now: datetime) -> str:
    """How long a customer has waited, briefly: 5 min, 3 h, 2 d."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return gettext("%(n)s min", n=minutes)
    if minutes < 48 * 60:
        return gettext("%(n)s h", n=minutes // 60)
    return gettext("%(n)s d", n=minutes // (24 * 60))


def category_label(category: Any) -> str:
    """Built-in categories are translated; the names admins give are shown as typed."""
    return gettext(category.name) if category.key else str(category.name)


def _labels() -> dict[str, Any]:
    return {
        "category_label": category_label,
        "status_labels": {s.value: gettext(label) for s, label in STATUS_LABELS.items()},
        "priority_labels": {p.value: gettext(label) for p, label in PRIORITY_LABELS.items()},
        "channel_labels": {c.value: gettext(label) for c, label in CHANNEL_LABELS.items()},
    }


async def _queues(kernel: Kernel, principal: Principal) -> list[Queue]:
    async with kernel.db.reader() as session:
        return await queries.agent_queues(
            session, user_id=principal.user_id, all_teams=principal.can(Permission.presence_view)
        )


# -- the inbox -----------------------------------------------------------------------------------
async def _list_context(kernel: Kernel, principal: Principal, query: InboxQuery) -> dict[str, Any]:
    async with kernel.db.reader() as session:
        rows = await queries.list_conversations(session, query.filter(principal.user_id), limit=LIST_LIMIT)
        all_queues = await queries.agent_queues(session, user_id=principal.user_id, all_teams=True)
    now = utcnow()
    return {
        "rows": rows,
        "query": query,
        "queue_names": {q.id: q.name for q in all_queues},
        "waited": lambda row: waited(_waiting_since(row), now),
        **_labels(),
    }


def _waiting_since(row: ConversationRow) -> datetime | None:
    if Status(row.status) is not Status.open:
        return None
    since: datetime | None = row.waiting_since or row.last_message_at
    return since


async def _counts_context(kernel: Kernel, principal: Principal, query: InboxQuery) -> dict[str, Any]:
    queues = await _queues(kernel, principal)
    async with kernel.db.reader() as session:
        counts = await queries.inbox_counts(
            session, user_id=principal.user_id, queue_ids=[q.id for q in queues]
        )
    return {"counts": counts, "queues": queues, "query": query}


@router.get("/inbox")
async def inbox(request: Request, kernel: KernelDep, principal: View) -> Response:
    query = InboxQuery.of(request)
    async with kernel.db.reader() as session:
        categories = await queries.list_categories(session)
    context = {
        **await _list_context(kernel, principal, query),
        **await _counts_context(kernel, principal, query),
        "categories": categories,
        "statuses": list(Status),
        "priorities": list(Priority),
        "channels": list(Channel),
        "any_status": ANY_STATUS,
    }
    return await kernel.templates.render(request, "conversations/inbox.html", context)


@router.get("/inbox/list")
async def inbox_list(request: Request, kernel: KernelDep, principal: View) -> Response:
    context = await _list_context(kernel, principal, InboxQuery.of(request))
    return await kernel.templates.render(request, "conversations/_list.html", context)


@router.get("/inbox/counts")
async def inbox_counts(request: Request, kernel: KernelDep, principal: View) -> Response:
    context = await _counts_context(kernel, principal, InboxQuery.of(request))
    return await kernel.templates.render(request, "conversations/_views.html", context)


# -- one conversation ------------------------------------------------------------------------------
def _conversation_url(conversation_id: int) -> str:
    return f"/inbox/conversations/{conversation_id}"


async def _header_context(kernel: Kernel, conversation_id: int) -> dict[str, Any]:
    async with kernel.db.reader() as session:
        row = await queries.get_conversation(session, conversation_id)
        categories = await queries.list_categories(session)
        agents = await queries.assignable_agents(session)
        queues = await queries.agent_queues(session, user_id=0, all_teams=True)
    current = Status(row.status)
    return {
        "row": row,
        "categories": categories,
        "agents": agents,
        "agent_names": {a.id: a.name for a in agents},
        "all_queues": queues,
        "queue_names": {q.id: q.name for q in queues},
        "next_statuses": [s for s in Status if s in TRANSITIONS[current]],
        "priorities": list(Priority),
        **_labels(),
    }


@router.get("/inbox/conversations/{conversation_id}")
async def conversation_page(
    request: Request, kernel: KernelDep, principal: View, conversation_id: int
) -> Response:
    conversation_id = _id(conversation_id)
    context = await _header_context(kernel, conversation_id)
    row: ConversationRow = context["row"]
    async with kernel.db.reader() as session:
        messages = await queries.messages_before(
            session, conversation_id, before_seq=None, include_notes=True, limit=HISTORY_LIMIT
        )
        contact = await queries.get_contact(session, row.contact_id)
        others = [
            c
            for c in await queries.contact_conversations(session, row.contact_id, limit=21)
            if c.id != row.id
        ]
    context.update(
        messages=messages,
        has_older=bool(messages) and messages[0].seq > 1,
        contact=contact,
        others=others[:20],
        me=principal.user_id,
        can_reply=principal.can(Permission.conversations_reply),
        conversation_id=conversation_id,
    )
    return await kernel.templates.render(request, "conversations/conversation.html", context)


@router.get("/inbox/conversations/{conversation_id}/header")
async def conversation_header(
    request: Request, kernel: KernelDep, principal: View, conversation_id: int
) -> Response:
    context = await _header_context(kernel, _id(conversation_id))
    context["can_reply"] = principal.can(Permission.conversations_reply)
    return await kernel.templates.render(request, "conversations/_header.html", context)


@router.get("/inbox/conversations/{conversation_id}/messages")
async def conversation_messages(
    request: Request, kernel: KernelDep, principal: View, conversation_id: int
) -> Response:
    """History items as HTML: after ``after_seq`` (new ones), or the page before ``before_seq``."""
    conversation_id = _id(conversation_id)
    after_seq = _seq(request.query_params.get("after_seq"))
    before_seq = _seq(request.query_params.get("before_seq"))
    async with kernel.db.reader() as session:
        await queries.get_conversation(session, conversation_id)
        if after_seq is not None:
            messages = await queries.messages_after(
                session, conversation_id, after_seq=after_seq, include_notes=True, limit=HISTORY_LIMIT
            )
        else:
            messages = await queries.messages_before(
                session, conversation_id, before_seq=before_seq, include_notes=True, limit=HISTORY_LIMIT
            )
    context = {
        "messages": messages,
        "me": principal.user_id,
        "can_reply": principal.can(Permission.conversations_reply),
        "conversation_id": conversation_id,
    }
    return await kernel.templates.render(request, "conversations/_messages.html", context)


def _seq(raw: str | None) -> int | None:
    value = (raw or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


async def _act(kernel: Kernel, conversation_id: int, action: Any, success: str | None = None) -> Response:
    """Run one change; a refused change comes back to the page as an error message."""
    url = _conversation_url(conversation_id)
    try:
        async with kernel.db.transaction() as session:
            await action(session)
    except FORM_ERRORS as exc:
        return kernel.templates.redirect(url, message=exc.message, level="error", **exc.params)
    return kernel.templates.redirect(url, message=success)


@router.post("/inbox/conversations/{conversation_id}/reply")
async def reply_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int
) -> Response:
    conversation_id = _id(conversation_id)
    form = await Form.read(request)
    body = form.text("body", max_length=20_000)
    is_note = form.flag("is_note")
    client_id = form.optional("client_id")
    attachment_ids = form.ints("attachment_ids")

    async def action(session: Any) -> None:
        await service.post_message(
            session,
            conversation_id,
            author=Author.agent(principal.user_id, principal.name),
            body=body,
            is_note=is_note,
            client_id=client_id,
            attachment_ids=attachment_ids,
        )

    return await _act(kernel, conversation_id, action)


@router.post("/inbox/conversations/{conversation_id}/status")
async def status_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int
) -> Response:
    conversation_id = _id(conversation_id)
    form = await Form.read(request)
    status = _enum_value(form.text("status"), Status)
    snoozed_until = _snooze_until(form.text("snooze", max_length=20))

    async def action(session: Any) -> None:
        if status is None:
            raise InvalidInput("Choose a status.", field="status")
        await service.change_status(
            session, conversation_id, Status(status), actor=principal.actor, snoozed_until=snoozed_until
        )

    return await _act(kernel, conversation_id, action, N_("Status changed."))


SNOOZE_CHOICES = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
}


def _snooze_until(choice: str) -> datetime | None:
    delta = SNOOZE_CHOICES.get(choice)
    return utcnow() + delta if delta else None


@router.post("/inbox/conversations/{conversation_id}/fields")
async def fields_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int
) -> Response:
    conversation_id = _id(conversation_id)
    form = await Form.read(request)
    priority = _enum_value(form.text("priority"), Priority)
    category = form.text("category_id").strip()
    # Only the fields the form sent change: a form without tags leaves them as they are.
    tags = form.text("tags", max_length=2000).replace("，", ",").split(",") if form.texts("tags") else None

    async def action(session: Any) -> None:
        await service.update_conversation(
            session,
            conversation_id,
            actor=principal.actor,
            priority=Priority(priority) if priority else None,
            category_id=_int(category),
            clear_category=bool(form.texts("category_id")) and category == "",
            tags=tags,
            subject=form.text("subject", max_length=200) if form.texts("subject") else None,
        )

    return await _act(kernel, conversation_id, action, N_("Conversation updated."))


@router.post("/inbox/conversations/{conversation_id}/assign")
async def assign_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int
) -> Response:
    conversation_id = _id(conversation_id)
    form = await Form.read(request)
    raw = form.text("assignee_id").strip()
    assignee_id = principal.user_id if raw == "me" else _int(raw)

    async def action(session: Any) -> None:
        if raw not in ("", "me") and assignee_id is None:
            raise InvalidInput("No such active agent.", field="assignee_id")
        await service.assign_conversation(session, conversation_id, assignee_id, actor=principal.actor)

    return await _act(kernel, conversation_id, action, N_("Assignment changed."))


@router.post("/inbox/conversations/{conversation_id}/transfer")
async def transfer_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int
) -> Response:
    conversation_id = _id(conversation_id)
    form = await Form.read(request)
    to_user_id = _int(form.text("to_user_id"))
    to_queue_id = _int(form.text("to_queue_id"))
    note = form.text("note", max_length=1000)

    async def action(session: Any) -> None:
        await service.transfer_conversation(
            session,
            conversation_id,
            actor=principal.actor,
            actor_name=principal.name,
            to_user_id=to_user_id,
            to_queue_id=to_queue_id,
            note=note,
        )

    return await _act(kernel, conversation_id, action, N_("Conversation transferred."))


@router.post("/inbox/conversations/{conversation_id}/consult")
async def consult_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int
) -> Response:
    conversation_id = _id(conversation_id)
    form = await Form.read(request)
    user_id = _int(form.text("user_id"))
    note = form.text("note", max_length=2000)

    async def action(session: Any) -> None:
        if user_id is None:
            raise InvalidInput("No such active agent.", field="user_id")
        await service.consult_colleague(
            session,
            conversation_id,
            actor=principal.actor,
            actor_name=principal.name,
            user_id=user_id,
            note=note,
        )

    return await _act(kernel, conversation_id, action, N_("Your colleague was asked."))


@router.post("/inbox/conversations/{conversation_id}/messages/{message_id}/edit")
async def edit_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int, message_id: int
) -> Response:
    return await _revise(request, kernel, principal, _id(conversation_id), _id(message_id), delete=False)


@router.post("/inbox/conversations/{conversation_id}/messages/{message_id}/delete")
async def delete_submit(
    request: Request, kernel: KernelDep, principal: Reply, conversation_id: int, message_id: int
) -> Response:
    return await _revise(request, kernel, principal, _id(conversation_id), _id(message_id), delete=True)


async def _revise(
    request: Request,
    kernel: Kernel,
    principal: Principal,
    conversation_id: int,
    message_id: int,
    *,
    delete: bool,
) -> Response:
    form = await Form.read(request)
    body = None if delete else form.text("body", max_length=20_000)

    async def action(session: Any) -> None:
        message = await queries.get_message(session, message_id)
        if message.conversation_id != conversation_id:
            raise NotFound("No such message.")
        await service.revise_message(
            session, message_id, author=Author.agent(principal.user_id, principal.name), body=body
        )

    return await _act(
        kernel, conversation_id, action, N_("Message deleted.") if delete else N_("Message edited.")
    )


# -- notifications ---------------------------------------------------------------------------------
@router.get("/inbox/notifications")
async def notifications_page(request: Request, kernel: KernelDep, principal: View) -> Response:
    async with kernel.db.reader() as session:
        found = await queries.list_notifications(session, principal.user_id, limit=100)
    return await kernel.templates.render(
        request, "conversations/notifications.html", {"notifications": found}
    )


@router.post("/inbox/notifications/read")
async def notifications_read(request: Request, kernel: KernelDep, principal: View) -> Response:
    form = await Form.read(request)
    ids = form.ints("id") or None
    async with kernel.db.transaction() as session:
        await service.mark_notifications_read(session, principal.user_id, ids)
    return kernel.templates.redirect("/inbox/notifications")


# -- categories (administration) -------------------------------------------------------------------
async def _categories_page(
    request: Request,
    kernel: Kernel,
    *,
    name: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        found = await queries.list_categories(session, include_inactive=True)
    context = {"categories": found, "name": name, "errors": errors or {}, "category_label": category_label}
    return await kernel.templates.render(
        request, "conversations/categories.html", context, status_code=status
    )


@router.get("/admin/categories")
async def categories_page(request: Request, kernel: KernelDep, principal: ManageCategories) -> Response:
    return await _categories_page(request, kernel)


@router.post("/admin/categories")
async def category_create(request: Request, kernel: KernelDep, principal: ManageCategories) -> Response:
    form = await Form.read(request)
    name = form.text("name", max_length=200)
    try:
        async with kernel.db.transaction() as session:
            await service.create_category(session, principal.actor, name)
    except FORM_ERRORS as exc:
        return await _categories_page(request, kernel, name=name, errors=_name_errors(exc), status=422)
    return kernel.templates.redirect("/admin/categories", message="Category added.")


def _name_errors(exc: DomainError) -> dict[str, str]:
    found = field_errors(exc)
    message = next(iter(found.values()))
    return {"name": found.get("name", message)}


@router.post("/admin/categories/{category_id}/active")
async def category_toggle(
    request: Request, kernel: KernelDep, principal: ManageCategories, category_id: int
) -> Response:
    category_id = _id(category_id)
    form = await Form.read(request)
    active = form.flag("active")
    async with kernel.db.transaction() as session:
        await service.set_category_active(session, principal.actor, category_id, active)
    return kernel.templates.redirect(
        "/admin/categories", message="Category enabled." if active else "Category disabled."
    )
