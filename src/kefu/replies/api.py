"""JSON API of quick replies and macros: /api/v1/quick-replies, /api/v1/macros."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from kefu.accounts import Permission, Principal, require
from kefu.platform.api import MAX_ID, PathId, SearchText, problems
from kefu.platform.kernel import KernelDep
from kefu.replies import queries, service
from kefu.replies.schemas import (
    MacroApplied,
    MacroApply,
    MacroCreate,
    MacroListItem,
    MacroOut,
    MacroUpdate,
    QuickReplyCreate,
    QuickReplyOut,
    QuickReplyUpdate,
    SuggestionOut,
)
from kefu.replies.variables import render

router = APIRouter(prefix="/api/v1", tags=["quick replies and macros"], responses=problems(401, 403, 422))

View = Annotated[Principal, Depends(require(Permission.conversations_view))]
Write = Annotated[Principal, Depends(require(Permission.conversations_reply))]


# -- quick replies ---------------------------------------------------------------------------------
@router.get("/quick-replies", response_model=list[QuickReplyOut], summary="My and the shared quick replies")
async def list_quick_replies(kernel: KernelDep, principal: View, q: SearchText = None) -> list[QuickReplyOut]:
    async with kernel.db.reader() as session:
        return [
            QuickReplyOut.of(r) for r in await queries.list_quick_replies(session, principal.user_id, q=q)
        ]


@router.get(
    "/quick-replies/suggest",
    response_model=list[SuggestionOut],
    responses=problems(404),
    summary="Quick replies for what the agent types, filled in for a conversation",
)
async def suggest(
    kernel: KernelDep,
    principal: View,
    q: SearchText = None,
    conversation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> list[SuggestionOut]:
    async with kernel.db.reader() as session:
        found = await queries.suggest(session, principal.user_id, q or "", limit=limit)
        values = await service.rendering_values(session, principal, conversation_id)
    return [
        SuggestionOut(
            id=r.id,
            shortcut=r.shortcut,
            title=r.title,
            group=r.group_name,
            kind=r.kind,
            text=render(r.body, values),
        )
        for r in found
    ]


@router.post(
    "/quick-replies",
    response_model=QuickReplyOut,
    status_code=201,
    responses=problems(409),
    summary="Create a quick reply (personal, or shared)",
)
async def create_quick_reply(kernel: KernelDep, principal: Write, body: QuickReplyCreate) -> QuickReplyOut:
    data = service.QuickReplyInput(body.shortcut, body.title, body.body, body.group, body.kind.value)
    async with kernel.db.transaction() as session:
        reply = await service.create_quick_reply(session, principal, data, shared=body.shared)
        return QuickReplyOut.of(reply)


@router.get(
    "/quick-replies/{reply_id}",
    response_model=QuickReplyOut,
    responses=problems(404),
    summary="One quick reply",
)
async def get_quick_reply(kernel: KernelDep, principal: View, reply_id: PathId) -> QuickReplyOut:
    async with kernel.db.reader() as session:
        return QuickReplyOut.of(await queries.get_quick_reply(session, principal.user_id, reply_id))


@router.patch(
    "/quick-replies/{reply_id}",
    response_model=QuickReplyOut,
    responses=problems(404, 409),
    summary="Change a quick reply",
)
async def patch_quick_reply(
    kernel: KernelDep, principal: Write, reply_id: PathId, body: QuickReplyUpdate
) -> QuickReplyOut:
    async with kernel.db.transaction() as session:
        reply = await service.update_quick_reply(
            session,
            principal,
            reply_id,
            shortcut=body.shortcut,
            title=body.title,
            body=body.body,
            group_name=body.group,
            kind=body.kind.value if body.kind else None,
        )
        return QuickReplyOut.of(reply)


@router.delete(
    "/quick-replies/{reply_id}", status_code=204, responses=problems(404), summary="Delete a quick reply"
)
async def delete_quick_reply(kernel: KernelDep, principal: Write, reply_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_quick_reply(session, principal, reply_id)
    return Response(status_code=204)


@router.post(
    "/quick-replies/{reply_id}/use",
    status_code=204,
    responses=problems(404),
    summary="Count one use (suggestions rank the most used first)",
)
async def use_quick_reply(kernel: KernelDep, principal: Write, reply_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.record_use(session, principal, reply_id)
    return Response(status_code=204)


# -- macros ----------------------------------------------------------------------------------------
@router.get("/macros", response_model=list[MacroListItem], summary="My and the shared macros")
async def list_macros(kernel: KernelDep, principal: View) -> list[MacroListItem]:
    async with kernel.db.reader() as session:
        macros = await queries.list_macros(session, principal.user_id)
    return [MacroListItem(id=m.id, name=m.name, shared=m.owner_id is None) for m in macros]


@router.post(
    "/macros", response_model=MacroOut, status_code=201, summary="Create a macro (personal, or shared)"
)
async def create_macro(kernel: KernelDep, principal: Write, body: MacroCreate) -> MacroOut:
    async with kernel.db.transaction() as session:
        macro = await service.create_macro(
            session, principal, name=body.name, actions=body.actions.plain(), shared=body.shared
        )
        return MacroOut.of(macro)


@router.get("/macros/{macro_id}", response_model=MacroOut, responses=problems(404), summary="One macro")
async def get_macro(kernel: KernelDep, principal: View, macro_id: PathId) -> MacroOut:
    async with kernel.db.reader() as session:
        return MacroOut.of(await queries.get_macro(session, principal.user_id, macro_id))


@router.patch(
    "/macros/{macro_id}", response_model=MacroOut, responses=problems(404), summary="Change a macro"
)
async def patch_macro(kernel: KernelDep, principal: Write, macro_id: PathId, body: MacroUpdate) -> MacroOut:
    async with kernel.db.transaction() as session:
        macro = await service.update_macro(
            session,
            principal,
            macro_id,
            name=body.name,
            actions=body.actions.plain() if body.actions is not None else None,
        )
        return MacroOut.of(macro)


@router.delete("/macros/{macro_id}", status_code=204, responses=problems(404), summary="Delete a macro")
async def delete_macro(kernel: KernelDep, principal: Write, macro_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_macro(session, principal, macro_id)
    return Response(status_code=204)


@router.post(
    "/macros/{macro_id}/apply",
    response_model=MacroApplied,
    responses=problems(404, 409),
    summary="Apply every action of a macro to a conversation, all or nothing",
)
async def apply_macro(
    kernel: KernelDep, principal: Write, macro_id: PathId, body: MacroApply
) -> MacroApplied:
    async with kernel.db.transaction() as session:
        applied = await service.apply_macro(session, principal, macro_id, body.conversation_id)
    return MacroApplied(conversation_id=body.conversation_id, applied=applied)
