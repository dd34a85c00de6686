"""HTML pages of quick replies (/replies) and macros (/replies/macros)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import groupby
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import Permission, Principal, require
from kefu.conversations import PRIORITY_LABELS, STATUS_LABELS, Priority, list_categories
from kefu.platform.errors import Conflict, InvalidInput, PermissionDenied
from kefu.platform.i18n import gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.web import Form, field_errors
from kefu.replies import queries, service
from kefu.replies.models import Macro, QuickReply
from kefu.replies.rules import ACTION_LABELS, KIND_LABELS, ReplyKind
from kefu.replies.variables import VARIABLES

router = APIRouter(include_in_schema=False)

FORM_ERRORS = (InvalidInput, Conflict, PermissionDenied)
TAG_SEPARATORS = re.compile(r"[,，、;；]")

View = Annotated[Principal, Depends(require(Permission.conversations_view))]
Write = Annotated[Principal, Depends(require(Permission.conversations_reply))]


@dataclass(frozen=True)
class ReplyValues:
    shortcut: str = ""
    title: str = ""
    body: str = ""
    group_name: str = ""
    kind: str = ReplyKind.reply.value
    shared: bool = False

    @classmethod
    def of(cls, form: Form) -> ReplyValues:
        return cls(
            shortcut=form.text("shortcut", max_length=100),
            title=form.text("title", max_length=300),
            body=form.text("body", max_length=20_000),
            group_name=form.text("group_name", max_length=200),
            kind=form.text("kind", max_length=20) or ReplyKind.reply.value,
            shared=form.flag("shared"),
        )

    @classmethod
    def of_reply(cls, reply: QuickReply) -> ReplyValues:
        return cls(
            reply.shortcut, reply.title, reply.body, reply.group_name, reply.kind, reply.owner_id is None
        )

    def data(self) -> service.QuickReplyInput:
        return service.QuickReplyInput(self.shortcut, self.title, self.body, self.group_name, self.kind)


@dataclass(frozen=True)
class Group:
    name: str
    shared: bool
    replies: list[QuickReply] = field(default_factory=list)


def _groups(replies: list[QuickReply]) -> list[Group]:
    keyed = groupby(replies, key=lambda r: (r.owner_id is None, r.group_name))
    return [Group(name, shared, list(items)) for (shared, name), items in keyed]


def _common(principal: Principal) -> dict[str, Any]:
    return {
        "kind_options": [(k.value, gettext(KIND_LABELS[k])) for k in ReplyKind],
        "kind_labels": {k.value: KIND_LABELS[k] for k in ReplyKind},
        "variables": VARIABLES,
        "can_share": principal.can(Permission.replies_manage_shared),
        "can_write": principal.can(Permission.conversations_reply),
        "may_edit": lambda owner_id: service.may_edit(principal, owner_id),
    }


# -- quick replies ---------------------------------------------------------------------------------
async def _replies_page(
    request: Request,
    kernel: Kernel,
    principal: Principal,
    *,
    values: ReplyValues | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    q = request.query_params.get("q", "")[:100]
    async with kernel.db.reader() as session:
        replies = await queries.list_quick_replies(session, principal.user_id, q=q)
    context = {
        **_common(principal),
        "groups": _groups(replies),
        "q": q,
        "values": values or ReplyValues(),
        "errors": errors or {},
    }
    return await kernel.templates.render(request, "replies/replies.html", context, status_code=status)


@router.get("/replies")
async def replies_page(request: Request, kernel: KernelDep, principal: View) -> Response:
    return await _replies_page(request, kernel, principal)


@router.post("/replies")
async def reply_create(request: Request, kernel: KernelDep, principal: Write) -> Response:
    values = ReplyValues.of(await Form.read(request))
    try:
        async with kernel.db.transaction() as session:
            await service.create_quick_reply(session, principal, values.data(), shared=values.shared)
    except FORM_ERRORS as exc:
        return await _replies_page(
            request, kernel, principal, values=values, errors=field_errors(exc), status=422
        )
    return kernel.templates.redirect(
        "/replies", message="The quick reply /%(shortcut)s was saved.", shortcut=values.shortcut.strip()
    )


# -- macros (declared before /replies/{id} so "macros" is never taken for an id) ----------------------
@dataclass(frozen=True)
class MacroValues:
    name: str = ""
    shared: bool = False
    status: str = ""
    priority: str = ""
    category_id: str = ""
    add_tags: str = ""
    remove_tags: str = ""
    reply: str = ""
    note: str = ""

    @classmethod
    def of(cls, form: Form) -> MacroValues:
        return cls(
            name=form.text("name", max_length=300),
            shared=form.flag("shared"),
            status=form.text("status", max_length=20),
            priority=form.text("priority", max_length=20),
            category_id=form.text("category_id", max_length=12),
            add_tags=form.text("add_tags", max_length=2000),
            remove_tags=form.text("remove_tags", max_length=2000),
            reply=form.text("reply", max_length=20_000),
            note=form.text("note", max_length=20_000),
        )

    @classmethod
    def of_macro(cls, macro: Macro) -> MacroValues:
        a = macro.actions
        return cls(
            name=macro.name,
            shared=macro.owner_id is None,
            status=str(a.get("status", "")),
            priority=str(a.get("priority", "")),
            category_id=str(a.get("category_id", "")),
            add_tags=", ".join(a.get("add_tags", [])),
            remove_tags=", ".join(a.get("remove_tags", [])),
            reply=str(a.get("reply", "")),
            note=str(a.get("note", "")),
        )

    def actions(self) -> dict[str, Any]:
        category = self.category_id.strip()
        if category and not (category.isdigit() and len(category) < 10):
            raise InvalidInput("Choose a category.", field="category_id")
        return {
            "status": self.status or None,
            "priority": self.priority or None,
            "category_id": int(category) if category else None,
            "add_tags": _split_tags(self.add_tags),
            "remove_tags": _split_tags(self.remove_tags),
            "reply": self.reply.strip() or None,
            "note": self.note.strip() or None,
        }


def _split_tags(text: str) -> list[str]:
    return [t.strip() for t in TAG_SEPARATORS.split(text) if t.strip()]


async def _macro_context(kernel: Kernel, principal: Principal) -> dict[str, Any]:
    async with kernel.db.reader() as session:
        categories = await list_categories(session)
    return {
        **_common(principal),
        "status_options": [("", gettext("Unchanged"))]
        + [(s.value, gettext(STATUS_LABELS[s])) for s in service.MACRO_STATUSES_ORDERED],
        "priority_options": [("", gettext("Unchanged"))]
        + [(p.value, gettext(PRIORITY_LABELS[p])) for p in Priority],
        "category_options": [("", gettext("Unchanged"))] + [(str(c.id), gettext(c.name)) for c in categories],
        "category_names": {c.id: c.name for c in categories},
        "action_labels": ACTION_LABELS,
        "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        "priority_labels": {p.value: label for p, label in PRIORITY_LABELS.items()},
    }


async def _macros_page(
    request: Request,
    kernel: Kernel,
    principal: Principal,
    *,
    values: MacroValues | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        macros = await queries.list_macros(session, principal.user_id)
    context = {
        **await _macro_context(kernel, principal),
        "macros": macros,
        "values": values or MacroValues(),
        "errors": errors or {},
    }
    return await kernel.templates.render(request, "replies/macros.html", context, status_code=status)


@router.get("/replies/macros")
async def macros_page(request: Request, kernel: KernelDep, principal: View) -> Response:
    return await _macros_page(request, kernel, principal)


@router.post("/replies/macros")
async def macro_create(request: Request, kernel: KernelDep, principal: Write) -> Response:
    values = MacroValues.of(await Form.read(request))
    try:
        actions = values.actions()
        async with kernel.db.transaction() as session:
            await service.create_macro(
                session, principal, name=values.name, actions=actions, shared=values.shared
            )
    except FORM_ERRORS as exc:
        return await _macros_page(
            request, kernel, principal, values=values, errors=field_errors(exc), status=422
        )
    return kernel.templates.redirect(
        "/replies/macros", message="The macro %(name)s was saved.", name=values.name
    )


async def _macro_form(
    request: Request,
    kernel: Kernel,
    principal: Principal,
    macro: Macro,
    *,
    values: MacroValues | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        **await _macro_context(kernel, principal),
        "macro": macro,
        "values": values or MacroValues.of_macro(macro),
        "errors": errors or {},
    }
    return await kernel.templates.render(request, "replies/macro_form.html", context, status_code=status)


async def _editable_macro(kernel: Kernel, principal: Principal, macro_id: int) -> Macro:
    async with kernel.db.reader() as session:
        macro = await queries.get_macro(session, principal.user_id, macro_id)
    if not service.may_edit(principal, macro.owner_id):
        raise PermissionDenied("Only supervisors change shared quick replies and macros.")
    return macro


@router.get("/replies/macros/{macro_id}")
async def macro_page(request: Request, kernel: KernelDep, principal: Write, macro_id: int) -> Response:
    macro = await _editable_macro(kernel, principal, macro_id)
    return await _macro_form(request, kernel, principal, macro)


@router.post("/replies/macros/{macro_id}")
async def macro_update(request: Request, kernel: KernelDep, principal: Write, macro_id: int) -> Response:
    macro = await _editable_macro(kernel, principal, macro_id)
    values = MacroValues.of(await Form.read(request))
    try:
        actions = values.actions()
        async with kernel.db.transaction() as session:
            await service.update_macro(session, principal, macro_id, name=values.name, actions=actions)
    except FORM_ERRORS as exc:
        return await _macro_form(
            request, kernel, principal, macro, values=values, errors=field_errors(exc), status=422
        )
    return kernel.templates.redirect("/replies/macros", message="Saved.")


@router.post("/replies/macros/{macro_id}/delete")
async def macro_delete(request: Request, kernel: KernelDep, principal: Write, macro_id: int) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_macro(session, principal, macro_id)
    return kernel.templates.redirect("/replies/macros", message="The macro was deleted.")


# -- one quick reply -------------------------------------------------------------------------------
async def _editable_reply(kernel: Kernel, principal: Principal, reply_id: int) -> QuickReply:
    async with kernel.db.reader() as session:
        reply = await queries.get_quick_reply(session, principal.user_id, reply_id)
    if not service.may_edit(principal, reply.owner_id):
        raise PermissionDenied("Only supervisors change shared quick replies and macros.")
    return reply


async def _reply_form(
    request: Request,
    kernel: Kernel,
    principal: Principal,
    reply: QuickReply,
    *,
    values: ReplyValues | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        **_common(principal),
        "reply": reply,
        "values": values or ReplyValues.of_reply(reply),
        "errors": errors or {},
    }
    return await kernel.templates.render(request, "replies/reply_form.html", context, status_code=status)


@router.get("/replies/{reply_id}")
async def reply_page(request: Request, kernel: KernelDep, principal: Write, reply_id: int) -> Response:
    reply = await _editable_reply(kernel, principal, reply_id)
    return await _reply_form(request, kernel, principal, reply)


@router.post("/replies/{reply_id}")
async def reply_update(request: Request, kernel: KernelDep, principal: Write, reply_id: int) -> Response:
    reply = await _editable_reply(kernel, principal, reply_id)
    values = ReplyValues.of(await Form.read(request))
    try:
        async with kernel.db.transaction() as session:
            await service.update_quick_reply(
                session,
                principal,
                reply_id,
                shortcut=values.shortcut,
                title=values.title,
                body=values.body,
                group_name=values.group_name,
                kind=values.kind,
            )
    except FORM_ERRORS as exc:
        return await _reply_form(
            request, kernel, principal, reply, values=values, errors=field_errors(exc), status=422
        )
    return kernel.templates.redirect("/replies", message="Saved.")


@router.post("/replies/{reply_id}/delete")
async def reply_delete(request: Request, kernel: KernelDep, principal: Write, reply_id: int) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_quick_reply(session, principal, reply_id)
    return kernel.templates.redirect("/replies", message="The quick reply was deleted.")
