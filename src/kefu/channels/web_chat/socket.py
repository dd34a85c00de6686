"""The widget's realtime commands: a visitor sends, types and reads over the hub socket.

``chat.send`` does what ``POST …/messages`` does (same service call, one transaction) and
answers ``chat.ack``; ``chat.typing`` becomes a signal to the agents following the
conversation; ``chat.read`` moves the visitor's read mark. Only visitor sockets may use them.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kefu.channels.web_chat import handlers, queries, service
from kefu.channels.web_chat.api import public_message
from kefu.channels.web_chat.limits import send_limiter
from kefu.channels.web_chat.schemas import MessageIn
from kefu.channels.web_chat.visitors import VisitorPrincipal
from kefu.conversations import AuthorKind, mark_read
from kefu.platform.api import MAX_ID
from kefu.platform.errors import DomainError
from kefu.platform.i18n import translate
from kefu.platform.kernel import Kernel
from kefu.platform.realtime import CommandHandler, CommandRejected, Subscriber


def _visitor(subscriber: Subscriber) -> VisitorPrincipal:
    if not isinstance(subscriber.principal, VisitorPrincipal):
        raise CommandRejected("forbidden", "Only widget visitors send chat commands.")
    return subscriber.principal


def _conversation_id(command: dict[str, Any]) -> int:
    value = command.get("conversation_id")
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise CommandRejected("bad-request", "conversation_id must be a positive integer.")
    return value


def _rejected(error: DomainError) -> CommandRejected:
    """A domain error as the socket's error frame (same code and text as the REST problem)."""
    extra: dict[str, Any] = {}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        extra["retry_after"] = retry_after
    code = "forbidden" if error.status in (403, 404) else error.code
    return CommandRejected(code, translate(error.message, error.params), **extra)


def make_send(kernel: Kernel) -> CommandHandler:
    async def send(subscriber: Subscriber, command: dict[str, Any]) -> dict[str, Any] | None:
        visitor = _visitor(subscriber)
        conversation_id = _conversation_id(command)
        try:
            body = MessageIn.model_validate(
                {k: command[k] for k in ("client_id", "body", "attachment_ids") if k in command}
            )
        except ValidationError:
            raise CommandRejected("bad-request", "Send client_id, body and attachment_ids.") from None
        wait = send_limiter(kernel).take(visitor.contact_id)
        if wait is not None:
            raise CommandRejected(
                "rate-limited", "You are sending too fast. Wait a moment.", retry_after=wait
            )
        first = service.FirstMessage(body.client_id, body.body, body.attachment_ids)
        try:
            async with kernel.db.transaction() as session:
                widget = await queries.active_widget(session, visitor.widget_id)
                posted = await service.post_visitor_message(session, widget, visitor, conversation_id, first)
        except DomainError as exc:
            raise _rejected(exc) from None
        return {
            "type": "chat.ack",
            "client_id": body.client_id,
            "message": public_message(kernel.settings, posted.view, visitor.contact_id),
        }

    return send


def make_typing(kernel: Kernel) -> CommandHandler:
    async def typing(subscriber: Subscriber, command: dict[str, Any]) -> dict[str, Any] | None:
        visitor = _visitor(subscriber)
        conversation_id = _conversation_id(command)
        try:
            async with kernel.db.reader() as session:
                await queries.owned_conversation(session, visitor, conversation_id)
        except DomainError as exc:
            raise _rejected(exc) from None
        assert kernel.hub is not None
        await kernel.hub.signal(
            f"conversation:{conversation_id}",
            "typing",
            {"who": "customer", "typing": bool(command.get("typing")), "conversation_id": conversation_id},
        )
        return None

    return typing


def make_read(kernel: Kernel) -> CommandHandler:
    async def read(subscriber: Subscriber, command: dict[str, Any]) -> dict[str, Any] | None:
        visitor = _visitor(subscriber)
        conversation_id = _conversation_id(command)
        seq = command.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_ID:
            raise CommandRejected("bad-request", "seq must be a non-negative integer.")
        try:
            async with kernel.db.transaction() as session:
                await queries.owned_conversation(session, visitor, conversation_id)
                await mark_read(
                    session,
                    conversation_id,
                    reader=AuthorKind.customer,
                    seq=seq,
                    contact_id=visitor.contact_id,
                )
        except DomainError as exc:
            raise _rejected(exc) from None
        return None

    return read


def register(kernel: Kernel) -> None:
    assert kernel.hub is not None, "enable realtime before registering the widget's commands"
    kernel.hub.add_command("chat.send", make_send(kernel))
    kernel.hub.add_command("chat.typing", make_typing(kernel))
    kernel.hub.add_command("chat.read", make_read(kernel))
    handlers.register(kernel)
