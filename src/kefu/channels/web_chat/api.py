"""The visitor API under /api/v1/widget/: what the chat widget (or a custom chat UI) calls.

Visitors authenticate with ``Authorization: Visitor <token>`` (from the session endpoint),
never with cookies, so these routes need no CSRF token. A visitor sees only their own
conversations through the widget that issued their token, and never internal notes.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kefu.channels.web_chat import queries, service
from kefu.channels.web_chat.limits import send_limiter
from kefu.channels.web_chat.models import Widget
from kefu.channels.web_chat.schemas import (
    AttachmentOut,
    CallbackIn,
    CallbackStartIn,
    ConversationOut,
    ConversationsOut,
    LeaveMessageIn,
    LeaveMessageOut,
    MessageIn,
    MessageOut,
    MessagesOut,
    OfflineIn,
    QueueOut,
    ReadIn,
    SessionIn,
    SessionOut,
    StartIn,
)
from kefu.channels.web_chat.visitors import (
    CurrentVisitor,
    VisitorPrincipal,
    attachment_sig,
    issue_token,
    read_attachment_sig,
    read_token,
    require_widget,
    token_from_header,
    visitor_header,
)
from kefu.conversations import (
    IMAGE_TYPES,
    MAX_ATTACHMENT_BYTES,
    Author,
    AuthorKind,
    MessageView,
    add_attachment,
    attachment_response,
    mark_read,
    messages_after,
    store_upload,
)
from kefu.platform.api import PathId, problems
from kefu.platform.errors import NotAuthenticated, RateLimited
from kefu.platform.kernel import Kernel, KernelDep
from kefu.routing import not_waiting, queue_position
from kefu.settings import Settings

PREFIX = "/api/v1/widget"
router = APIRouter(prefix=PREFIX, tags=["web chat visitors"], responses=problems(401, 403, 404, 422))

AfterSeq = Annotated[int, Query(ge=0, le=2**31 - 1, description="Only messages after this number.")]
MessagesLimit = Annotated[int, Query(ge=1, le=200)]


def attachment_url(settings: Settings, attachment_id: int, contact_id: int) -> str:
    sig = attachment_sig(settings, attachment_id, contact_id)
    return f"{PREFIX}/attachments/{attachment_id}?sig={quote(sig)}"


def public_message(settings: Settings, view: MessageView, contact_id: int) -> dict[str, Any]:
    """What a visitor sees of a message, with links its ``<img>`` tags can load."""
    data = view.public()
    data["attachments"] = [
        {**item, "url": attachment_url(settings, int(item["id"]), contact_id)} for item in data["attachments"]
    ]
    return data


def check_rate(kernel: Kernel, visitor: VisitorPrincipal) -> None:
    wait = send_limiter(kernel).take(visitor.contact_id)
    if wait is not None:
        raise RateLimited(
            "You are sending too fast. Wait %(seconds)s seconds.", retry_after=wait, params={"seconds": wait}
        )


async def _widget_of(kernel: Kernel, visitor: VisitorPrincipal) -> Widget:
    async with kernel.db.reader() as session:
        return await queries.active_widget(session, visitor.widget_id)


@router.post(
    "/{key}/session",
    response_model=SessionOut,
    summary="Start or resume a visitor session",
    description="Issues (or refreshes) the visitor token. Identified visitors send the host site's "
    "`user_id` with `user_hash` = hex(HMAC-SHA256(identity secret, user_id)).",
)
async def open_session(kernel: KernelDep, key: str, body: SessionIn) -> SessionOut:
    known = None
    if body.visitor_token:
        known = read_token(kernel.settings, body.visitor_token)
        if known is None:
            raise NotAuthenticated("The visitor token is invalid or expired. Start a new session.")
    async with kernel.db.transaction() as session:
        widget = await queries.get_widget_by_key(session, key)
        if known is not None:
            require_widget(known, widget.id)
        visitor = await service.open_visitor_session(
            session,
            widget,
            known=known,
            user_id=body.user_id,
            user_hash=body.user_hash,
            name=body.name or "",
            email=body.email,
        )
        conversation = await queries.active_conversation(session, widget.id, visitor.contact_id)
        available = await queries.availability(session, widget)
        return SessionOut(
            token=issue_token(kernel.settings, visitor),
            contact_id=visitor.contact_id,
            widget=queries.public_widget(widget),
            online=available.online,
            mode=available.mode,
            opens_at=available.opens_at,
            conversation=queries.public_conversation(conversation) if conversation else None,
            transcript_by_email=kernel.settings.mail_enabled,
        )


@router.post(
    "/conversations",
    response_model=ConversationOut,
    status_code=201,
    responses=problems(409, 429),
    summary="Start a chat (or continue the open one)",
)
async def start_conversation(kernel: KernelDep, visitor: CurrentVisitor, body: StartIn) -> ConversationOut:
    widget = await _widget_of(kernel, visitor)
    first = None
    if body.message is not None:
        check_rate(kernel, visitor)
        first = service.FirstMessage(body.message.client_id, body.message.body, body.message.attachment_ids)
    async with kernel.db.transaction() as session:
        conversation, _ = await service.start_conversation(
            session, widget, visitor, prechat=body.prechat, first=first
        )
        views = await messages_after(session, conversation.id, include_notes=False)
        return ConversationOut(
            conversation=queries.public_conversation(conversation),
            messages=[public_message(kernel.settings, v, visitor.contact_id) for v in views],
        )


@router.get("/conversations", response_model=ConversationsOut, summary="The visitor's conversations")
async def list_conversations(kernel: KernelDep, visitor: CurrentVisitor) -> ConversationsOut:
    async with kernel.db.reader() as session:
        rows = await queries.visitor_conversations(session, visitor.widget_id, visitor.contact_id)
        return ConversationsOut(items=[queries.public_conversation(c) for c in rows])


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=MessagesOut,
    summary="Messages of one conversation after a number (resume after a reconnect)",
)
async def list_messages(
    kernel: KernelDep,
    visitor: CurrentVisitor,
    conversation_id: PathId,
    after_seq: AfterSeq = 0,
    limit: MessagesLimit = 200,
) -> MessagesOut:
    async with kernel.db.reader() as session:
        await queries.owned_conversation(session, visitor, conversation_id)
        views = await messages_after(
            session, conversation_id, after_seq=after_seq, include_notes=False, limit=limit
        )
    return MessagesOut(items=[public_message(kernel.settings, v, visitor.contact_id) for v in views])


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    status_code=201,
    responses=problems(409, 429),
    summary="Send a message (idempotent by client_id)",
)
async def post_message(
    kernel: KernelDep, visitor: CurrentVisitor, conversation_id: PathId, body: MessageIn
) -> MessageOut:
    check_rate(kernel, visitor)
    first = service.FirstMessage(body.client_id, body.body, body.attachment_ids)
    async with kernel.db.transaction() as session:
        widget = await queries.active_widget(session, visitor.widget_id)
        posted = await service.post_visitor_message(session, widget, visitor, conversation_id, first)
    return MessageOut(
        message=public_message(kernel.settings, posted.view, visitor.contact_id), created=posted.created
    )


@router.post(
    "/conversations/{conversation_id}/read",
    status_code=204,
    summary="Mark messages up to a number as read by the visitor",
)
async def read(kernel: KernelDep, visitor: CurrentVisitor, conversation_id: PathId, body: ReadIn) -> Response:
    async with kernel.db.transaction() as session:
        await queries.owned_conversation(session, visitor, conversation_id)
        await mark_read(
            session, conversation_id, reader=AuthorKind.customer, seq=body.seq, contact_id=visitor.contact_id
        )
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    responses=problems(413, 429),
    summary="Upload a file to send with the next message",
    description="Images (PNG, JPEG, GIF, WebP), PDF, text, Word, Excel and ZIP files up to 10 MB. "
    "The kind is judged from the file's content, not its name.",
)
async def upload(
    kernel: KernelDep,
    visitor: CurrentVisitor,
    conversation_id: PathId,
    file: Annotated[UploadFile, File(description="The file")],
) -> AttachmentOut:
    check_rate(kernel, visitor)
    async with kernel.db.reader() as session:
        await queries.owned_conversation(session, visitor, conversation_id)
    data = await file.read(MAX_ATTACHMENT_BYTES + 1)
    stored = await run_in_threadpool(store_upload, kernel.settings.data_dir, file.filename or "file", data)
    async with kernel.db.transaction() as session:
        attachment = await add_attachment(
            session,
            conversation_id=conversation_id,
            uploader=Author.customer(visitor.contact_id),
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
            storage_key=stored.storage_key,
        )
    return AttachmentOut(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        is_image=attachment.content_type in IMAGE_TYPES,
        url=attachment_url(kernel.settings, attachment.id, visitor.contact_id),
    )


async def _download_contact(request: Request, attachment_id: int, sig: str | None, header: str | None) -> int:
    settings: Settings = request.app.state.kernel.settings
    if sig:
        contact_id = read_attachment_sig(settings, sig, attachment_id)
        if contact_id is None:
            raise NotAuthenticated("This link has expired. Reload the chat.")
        return contact_id
    token = token_from_header(header)
    visitor = read_token(settings, token) if token else None
    if visitor is None:
        raise NotAuthenticated("Send the visitor token as: Authorization: Visitor <token>.")
    return visitor.contact_id


@router.get(
    "/attachments/{attachment_id}",
    summary="Download an attachment of one's own conversation",
    description="Authenticate with the visitor token, or with the `sig` of the link the messages carry.",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download(
    request: Request,
    kernel: KernelDep,
    attachment_id: PathId,
    header: Annotated[str | None, Depends(visitor_header)],
    sig: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    contact_id = await _download_contact(request, attachment_id, sig, header)
    async with kernel.db.reader() as session:
        attachment = await queries.visible_attachment(session, attachment_id, contact_id)
    return attachment_response(kernel.settings.data_dir, attachment, cache_seconds=3600)


@router.post(
    "/offline",
    response_model=ConversationOut,
    status_code=201,
    responses=problems(429),
    summary="Leave a message (留言) while nobody can answer",
)
async def offline(kernel: KernelDep, visitor: CurrentVisitor, body: OfflineIn) -> ConversationOut:
    widget = await _widget_of(kernel, visitor)
    check_rate(kernel, visitor)
    async with kernel.db.transaction() as session:
        conversation = await service.leave_offline_message(
            session,
            widget,
            visitor,
            name=body.name,
            email=body.email,
            phone=body.phone,
            body=body.body,
            client_id=body.client_id,
        )
        views = await messages_after(session, conversation.id, include_notes=False)
        return ConversationOut(
            conversation=queries.public_conversation(conversation),
            messages=[public_message(kernel.settings, v, visitor.contact_id) for v in views],
        )


# -- waiting: the place in line, 留言 instead, a callback ------------------------------------------------
@router.get(
    "/conversations/{conversation_id}/queue",
    response_model=QueueOut,
    summary="The conversation's place in line and the estimated wait",
    description="The same data as the socket's `queue.position` signals on `visitor:{contact_id}`: "
    "ask on the first paint and after a reconnect. `wait_seconds` is null when nobody of the queue "
    "is present (or it is closed): show that instead of a time.",
)
async def queue(kernel: KernelDep, visitor: CurrentVisitor, conversation_id: PathId) -> QueueOut:
    async with kernel.db.reader() as session:
        await queries.owned_conversation(session, visitor, conversation_id)
        found = await queue_position(session, conversation_id)
    return QueueOut(**(found.public() if found is not None else not_waiting(conversation_id)))


@router.post(
    "/conversations/{conversation_id}/offline",
    response_model=LeaveMessageOut,
    responses=problems(409, 429),
    summary="Leave a message (留言) instead of waiting",
    description="The waiting chat becomes a message answered by email: it keeps its place in the queue, "
    "is marked offline, and agents see where to reply. Needs an email address (given here, or known "
    "from before). 409 when an agent has already taken the conversation.",
)
async def leave_message(
    kernel: KernelDep, visitor: CurrentVisitor, conversation_id: PathId, body: LeaveMessageIn
) -> LeaveMessageOut:
    check_rate(kernel, visitor)
    async with kernel.db.transaction() as session:
        widget = await queries.active_widget(session, visitor.widget_id)
        conversation, email = await service.leave_message_instead(
            session,
            widget,
            visitor,
            conversation_id,
            email=body.email,
            body=body.body,
            client_id=body.client_id,
        )
        return LeaveMessageOut(conversation=queries.public_conversation(conversation), email=email)


@router.post(
    "/conversations/{conversation_id}/callback",
    response_model=ConversationOut,
    responses=problems(409, 429),
    summary="Ask to be called back",
    description="The phone number (digits, +, spaces and dashes; 5–20 digits) and, optionally, when to "
    "call. The conversation stays in its queue so that an agent takes it and calls; agents see the "
    "request in its history. At most 3 requests per conversation per hour.",
)
async def callback(
    kernel: KernelDep, visitor: CurrentVisitor, conversation_id: PathId, body: CallbackIn
) -> ConversationOut:
    check_rate(kernel, visitor)
    async with kernel.db.transaction() as session:
        widget = await queries.active_widget(session, visitor.widget_id)
        conversation = await service.request_callback(
            session, widget, visitor, conversation_id, phone=body.phone, preferred_time=body.preferred_time
        )
        return ConversationOut(conversation=queries.public_conversation(conversation))


@router.post(
    "/callback",
    response_model=ConversationOut,
    status_code=201,
    responses=problems(409, 429),
    summary="Ask to be called back while the queue is closed",
    description="The widget's first screen when its queue is closed with the after-hours mode "
    "`callback`: a conversation (the visitor's open one, or a new one) waits in the queue with the "
    "request, for the first agent when the queue opens.",
)
async def start_callback(
    kernel: KernelDep, visitor: CurrentVisitor, body: CallbackStartIn
) -> ConversationOut:
    widget = await _widget_of(kernel, visitor)
    check_rate(kernel, visitor)
    async with kernel.db.transaction() as session:
        conversation = await service.leave_callback_request(
            session,
            widget,
            visitor,
            name=body.name,
            phone=body.phone,
            preferred_time=body.preferred_time,
            body=body.body,
            client_id=body.client_id,
        )
        views = await messages_after(session, conversation.id, include_notes=False)
        return ConversationOut(
            conversation=queries.public_conversation(conversation),
            messages=[public_message(kernel.settings, v, visitor.contact_id) for v in views],
        )
