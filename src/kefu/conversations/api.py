"""JSON API of the agent workspace: /api/v1/conversations, notifications, attachments, categories."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import FileResponse

from kefu.accounts import Permission, Principal, require
from kefu.conversations import queries, service
from kefu.conversations.attachments import MAX_ATTACHMENT_BYTES, attachment_response, store_upload
from kefu.conversations.queries import InboxFilter
from kefu.conversations.rules import ACTIVE_STATUSES, AuthorKind, Channel, Priority, Status
from kefu.conversations.schemas import (
    AssignBody,
    AttachmentOut,
    CategoryCreate,
    CategoryOut,
    CategoryPatch,
    ConsultBody,
    ContactOut,
    ConversationDetail,
    ConversationOut,
    ConversationPatch,
    Counts,
    MessageCreate,
    MessageEdit,
    MessageOut,
    NotificationOut,
    NotificationsRead,
    ReadBody,
    ReadCount,
    StatusChange,
    TransferBody,
)
from kefu.conversations.service import Author
from kefu.conversations.views import attachment_summary
from kefu.platform.api import MAX_ID, Limit, Page, PathId, SafeStr, page_of, problems
from kefu.platform.errors import InvalidInput, NotFound
from kefu.platform.kernel import KernelDep

router = APIRouter(prefix="/api/v1", tags=["conversations"], responses=problems(401, 403, 422))

View = Annotated[Principal, Depends(require(Permission.conversations_view))]
Reply = Annotated[Principal, Depends(require(Permission.conversations_reply))]
ManageCategories = Annotated[Principal, Depends(require(Permission.categories_manage))]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Items before this id (paging).")]
Seq = Annotated[int | None, Query(ge=0, le=MAX_ID)]


def _agent(principal: Principal) -> Author:
    return Author.agent(principal.user_id, principal.name)


def inbox_filter(
    principal: Principal,
    *,
    view: str,
    queue_id: int | None = None,
    statuses: list[Status] | None = None,
    channel: Channel | None = None,
    priority: Priority | None = None,
    category_id: int | None = None,
    tag: str | None = None,
    q: str | None = None,
) -> InboxFilter:
    if view == "queue" and queue_id is None:
        raise InvalidInput("Choose a queue.", field="queue_id")
    chosen = statuses or sorted(ACTIVE_STATUSES)
    return InboxFilter(
        view=view,
        user_id=principal.user_id,
        queue_id=queue_id,
        statuses=tuple(s.value for s in chosen),
        channel=channel.value if channel else None,
        priority=priority.value if priority else None,
        category_id=category_id,
        tag=(tag or "").strip() or None,
        q=(q or "").strip(),
    )


# -- lists ---------------------------------------------------------------------------------------
@router.get(
    "/conversations",
    response_model=Page[ConversationOut],
    summary="List conversations (newest first); active ones unless status is given",
)
async def list_conversations(
    kernel: KernelDep,
    principal: View,
    view: Literal["mine", "unassigned", "queue", "all"] = "all",
    queue_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[list[Status] | None, Query(description="Repeat for several.")] = None,
    channel: Channel | None = None,
    priority: Priority | None = None,
    category_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    tag: Annotated[SafeStr | None, Query(max_length=40)] = None,
    q: Annotated[
        SafeStr | None, Query(max_length=100, description="Number (KF-10001), contact or text.")
    ] = None,
    before: BeforeId = None,
    limit: Limit = 50,
) -> Page[ConversationOut]:
    flt = inbox_filter(
        principal,
        view=view,
        queue_id=queue_id,
        statuses=status,
        channel=channel,
        priority=priority,
        category_id=category_id,
        tag=tag,
        q=q,
    )
    async with kernel.db.reader() as session:
        rows = await queries.list_conversations(session, flt, limit=limit, before_id=before, by_id=True)
    return page_of([ConversationOut.of(r) for r in rows], limit)


@router.get("/conversations/counts", response_model=Counts, summary="Active conversations per inbox view")
async def counts(kernel: KernelDep, principal: View) -> Counts:
    async with kernel.db.reader() as session:
        queues = await queries.agent_queues(
            session, user_id=principal.user_id, all_teams=principal.can(Permission.presence_view)
        )
        found = await queries.inbox_counts(
            session, user_id=principal.user_id, queue_ids=[q.id for q in queues]
        )
    per_queue = {key.split(":", 1)[1]: n for key, n in found.items() if key.startswith("queue:")}
    return Counts(mine=found["mine"], unassigned=found["unassigned"], all=found["all"], queues=per_queue)


# -- one conversation ------------------------------------------------------------------------------
@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    responses=problems(404),
    summary="One conversation with its contact",
)
async def get_conversation(kernel: KernelDep, principal: View, conversation_id: PathId) -> ConversationDetail:
    async with kernel.db.reader() as session:
        row = await queries.get_conversation(session, conversation_id)
        contact = await queries.get_contact(session, row.contact_id)
        return ConversationDetail(**ConversationOut.of(row).model_dump(), contact=ContactOut.of(contact))


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=list[MessageOut],
    responses=problems(404),
    summary="History, notes included: after_seq (oldest first) or the latest before before_seq",
)
async def list_messages(
    kernel: KernelDep,
    principal: View,
    conversation_id: PathId,
    after_seq: Seq = None,
    before_seq: Seq = None,
    limit: Limit = 50,
) -> list[MessageOut]:
    async with kernel.db.reader() as session:
        await queries.get_conversation(session, conversation_id)
        if after_seq is not None:
            views = await queries.messages_after(
                session, conversation_id, after_seq=after_seq, include_notes=True, limit=limit
            )
        else:
            views = await queries.messages_before(
                session, conversation_id, before_seq=before_seq, include_notes=True, limit=limit
            )
    return [MessageOut.of(v) for v in views]


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    status_code=201,
    responses={**problems(404, 409), 200: {"description": "Sent before with this client_id"}},
    summary="Reply to the customer, or write an internal note (@name mentions notify)",
)
async def post_message(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, body: MessageCreate, response: Response
) -> MessageOut:
    async with kernel.db.transaction() as session:
        posted = await service.post_message(
            session,
            conversation_id,
            author=_agent(principal),
            body=body.body,
            is_note=body.is_note,
            client_id=body.client_id,
            attachment_ids=body.attachment_ids,
        )
    if not posted.created:
        response.status_code = 200
    return MessageOut.of(posted.view)


async def _message_out(kernel: KernelDep, conversation_id: int, message_id: int) -> MessageOut:
    async with kernel.db.reader() as session:
        message = await queries.get_message(session, message_id)
        views = await queries.messages_after(
            session, conversation_id, after_seq=message.seq - 1, include_notes=True, limit=1
        )
    return MessageOut.of(views[0])


@router.patch(
    "/conversations/{conversation_id}/messages/{message_id}",
    response_model=MessageOut,
    responses=problems(404, 409),
    summary="Edit an own message (the earlier text is kept as a revision)",
)
async def edit_message(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, message_id: PathId, body: MessageEdit
) -> MessageOut:
    async with kernel.db.transaction() as session:
        await _own_conversation_message(session, conversation_id, message_id)
        await service.revise_message(session, message_id, author=_agent(principal), body=body.body)
    return await _message_out(kernel, conversation_id, message_id)


@router.delete(
    "/conversations/{conversation_id}/messages/{message_id}",
    status_code=204,
    responses=problems(404, 409),
    summary="Delete an own message (its text is kept as a revision)",
)
async def delete_message(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, message_id: PathId
) -> Response:
    async with kernel.db.transaction() as session:
        await _own_conversation_message(session, conversation_id, message_id)
        await service.revise_message(session, message_id, author=_agent(principal), body=None)
    return Response(status_code=204)


async def _own_conversation_message(session: AsyncSession, conversation_id: int, message_id: int) -> None:
    message = await queries.get_message(session, message_id)
    if message.conversation_id != conversation_id:
        raise NotFound("No such message.")


@router.post(
    "/conversations/{conversation_id}/status",
    response_model=ConversationOut,
    responses=problems(404, 409),
    summary="Change the status (open, pending, snoozed, resolved, closed)",
)
async def change_status(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, body: StatusChange
) -> ConversationOut:
    async with kernel.db.transaction() as session:
        await service.change_status(
            session, conversation_id, body.status, actor=principal.actor, snoozed_until=body.snoozed_until
        )
    return await _conversation_out(kernel, conversation_id)


async def _conversation_out(kernel: KernelDep, conversation_id: int) -> ConversationOut:
    async with kernel.db.reader() as session:
        return ConversationOut.of(await queries.get_conversation(session, conversation_id))


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    responses=problems(404),
    summary="Change priority, category (0 clears), tags (replaces all) or subject",
)
async def patch_conversation(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, body: ConversationPatch
) -> ConversationOut:
    async with kernel.db.transaction() as session:
        await service.update_conversation(
            session,
            conversation_id,
            actor=principal.actor,
            priority=body.priority,
            category_id=body.category_id or None,
            clear_category=body.category_id == 0,
            tags=body.tags,
            subject=body.subject,
        )
    return await _conversation_out(kernel, conversation_id)


@router.post(
    "/conversations/{conversation_id}/assign",
    response_model=ConversationOut,
    responses=problems(404, 409),
    summary="Assign to an agent (yourself included), or back to the queue with null",
)
async def assign(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, body: AssignBody
) -> ConversationOut:
    async with kernel.db.transaction() as session:
        await service.assign_conversation(
            session,
            conversation_id,
            body.assignee_id,
            actor=principal.actor,
            expect_unassigned=body.expect_unassigned,
        )
    return await _conversation_out(kernel, conversation_id)


@router.post(
    "/conversations/{conversation_id}/transfer",
    response_model=ConversationOut,
    responses=problems(404),
    summary="Transfer to another agent or queue, with an internal note",
)
async def transfer(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, body: TransferBody
) -> ConversationOut:
    async with kernel.db.transaction() as session:
        await service.transfer_conversation(
            session,
            conversation_id,
            actor=principal.actor,
            actor_name=principal.name,
            to_user_id=body.to_user_id,
            to_queue_id=body.to_queue_id,
            note=body.note,
        )
    return await _conversation_out(kernel, conversation_id)


@router.post(
    "/conversations/{conversation_id}/consult",
    response_model=MessageOut,
    status_code=201,
    responses=problems(404),
    summary="Ask a colleague for advice (咨询) without handing over: an internal note and a notification",
)
async def consult(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, body: ConsultBody
) -> MessageOut:
    async with kernel.db.transaction() as session:
        posted = await service.consult_colleague(
            session,
            conversation_id,
            actor=principal.actor,
            actor_name=principal.name,
            user_id=body.user_id,
            note=body.note,
        )
    return MessageOut.of(posted.view)


@router.post(
    "/conversations/{conversation_id}/read",
    status_code=204,
    responses=problems(404),
    summary="Move the agents' read mark forward to seq (never back)",
)
async def mark_read(kernel: KernelDep, principal: View, conversation_id: PathId, body: ReadBody) -> Response:
    async with kernel.db.transaction() as session:
        await service.mark_read(session, conversation_id, reader=AuthorKind.agent, seq=body.seq)
    return Response(status_code=204)


# -- attachments -----------------------------------------------------------------------------------
@router.post(
    "/conversations/{conversation_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    responses=problems(404, 413),
    summary="Upload a file to send with the next message (images, PDF, text, Word, Excel, ZIP)",
)
async def upload_attachment(
    kernel: KernelDep, principal: Reply, conversation_id: PathId, file: UploadFile
) -> AttachmentOut:
    data = await file.read(MAX_ATTACHMENT_BYTES + 1)
    async with kernel.db.reader() as session:
        await queries.get_conversation(session, conversation_id)
    stored = store_upload(kernel.settings.data_dir, file.filename or "file", data)
    async with kernel.db.transaction() as session:
        attachment = await service.add_attachment(
            session,
            conversation_id=conversation_id,
            uploader=_agent(principal),
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
            storage_key=stored.storage_key,
        )
        return AttachmentOut.of(attachment_summary(attachment))


@router.get(
    "/attachments/{attachment_id}",
    responses={
        **problems(404),
        200: {"description": "The file", "content": {"application/octet-stream": {}}},
    },
    response_class=FileResponse,
    summary="Download an attachment (images inline, other files as a download)",
)
async def download_attachment(kernel: KernelDep, principal: View, attachment_id: PathId) -> FileResponse:
    async with kernel.db.reader() as session:
        attachment = await queries.get_attachment(session, attachment_id)
    return attachment_response(kernel.settings.data_dir, attachment, cache_seconds=86400)


# -- notifications ---------------------------------------------------------------------------------
@router.get(
    "/notifications", response_model=Page[NotificationOut], summary="My notifications (mentions, assignments)"
)
async def list_notifications(
    kernel: KernelDep, principal: View, unread: bool = False, before: BeforeId = None, limit: Limit = 50
) -> Page[NotificationOut]:
    async with kernel.db.reader() as session:
        found = await queries.list_notifications(
            session, principal.user_id, unread_only=unread, limit=limit, before_id=before
        )
    return page_of([NotificationOut.of(n) for n in found], limit)


@router.post("/notifications/read", response_model=ReadCount, summary="Mark my notifications read")
async def read_notifications(kernel: KernelDep, principal: View, body: NotificationsRead) -> ReadCount:
    async with kernel.db.transaction() as session:
        marked = await service.mark_notifications_read(session, principal.user_id, body.ids)
    return ReadCount(marked=marked)


# -- categories ------------------------------------------------------------------------------------
@router.get("/categories", response_model=list[CategoryOut], summary="Conversation categories")
async def list_categories(
    kernel: KernelDep, principal: View, include_inactive: bool = False
) -> list[CategoryOut]:
    async with kernel.db.reader() as session:
        found = await queries.list_categories(session, include_inactive=include_inactive)
    return [CategoryOut.of(c) for c in found]


@router.post(
    "/categories",
    response_model=CategoryOut,
    status_code=201,
    responses=problems(409),
    summary="Add a category",
)
async def create_category(
    kernel: KernelDep, principal: ManageCategories, body: CategoryCreate
) -> CategoryOut:
    async with kernel.db.transaction() as session:
        return CategoryOut.of(await service.create_category(session, principal.actor, body.name))


@router.patch(
    "/categories/{category_id}",
    response_model=CategoryOut,
    responses=problems(404),
    summary="Enable or disable a category",
)
async def patch_category(
    kernel: KernelDep, principal: ManageCategories, category_id: PathId, body: CategoryPatch
) -> CategoryOut:
    async with kernel.db.transaction() as session:
        category = await service.set_category_active(session, principal.actor, category_id, body.is_active)
        return CategoryOut.of(category)
