"""Reads of quick replies and macros: what one agent may use (their own and the shared ones)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.platform.api import MAX_ID
from kefu.platform.errors import NotFound
from kefu.replies.models import Macro, QuickReply


def _usable_reply(user_id: int) -> ColumnElement[bool]:
    return or_(QuickReply.owner_id.is_(None), QuickReply.owner_id == user_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(q: str) -> ColumnElement[bool]:
    return or_(
        QuickReply.shortcut.icontains(q, autoescape=True),
        QuickReply.title.icontains(q, autoescape=True),
        QuickReply.body.icontains(q, autoescape=True),
        QuickReply.group_name.icontains(q, autoescape=True),
    )


async def list_quick_replies(
    session: AsyncSession, user_id: int, *, q: str | None = None, limit: int = 500
) -> list[QuickReply]:
    """Own ones first, then shared; by group and shortcut (the order the pages group them in)."""
    query = select(QuickReply).where(_usable_reply(user_id))
    text = (q or "").strip().lstrip("/")
    if text:
        query = query.where(_search(text))
    query = query.order_by(
        QuickReply.owner_id.is_(None), QuickReply.group_name, QuickReply.shortcut, QuickReply.id
    ).limit(limit)
    return list(await session.scalars(query))


async def get_quick_reply(session: AsyncSession, user_id: int, reply_id: int) -> QuickReply:
    reply = await session.get(QuickReply, reply_id) if 1 <= reply_id <= MAX_ID else None
    if reply is None or (reply.owner_id is not None and reply.owner_id != user_id):
        raise NotFound("No such quick reply.")
    return reply


async def suggest(session: AsyncSession, user_id: int, q: str, *, limit: int = 8) -> list[QuickReply]:
    """What to offer while an agent types ``/q``: shortcuts starting with q first, then
    shortcuts, titles and bodies containing it; most used first within each."""
    text = q.strip().lstrip("/").lower()
    query = select(QuickReply).where(_usable_reply(user_id))
    if text:
        prefix = QuickReply.shortcut.like(_escape_like(text) + "%", escape="\\")
        query = query.where(or_(prefix, _search(text))).order_by(case((prefix, 0), else_=1))
    query = query.order_by(QuickReply.use_count.desc(), QuickReply.shortcut, QuickReply.id)
    return list(await session.scalars(query.limit(limit)))


async def list_macros(session: AsyncSession, user_id: int) -> list[Macro]:
    query = (
        select(Macro)
        .where(or_(Macro.owner_id.is_(None), Macro.owner_id == user_id))
        .order_by(Macro.owner_id.is_(None), Macro.name, Macro.id)
    )
    return list(await session.scalars(query))


async def get_macro(session: AsyncSession, user_id: int, macro_id: int) -> Macro:
    macro = await session.get(Macro, macro_id) if 1 <= macro_id <= MAX_ID else None
    if macro is None or (macro.owner_id is not None and macro.owner_id != user_id):
        raise NotFound("No such macro.")
    return macro
