"""Reads of routing: who is present, who can take a conversation of a queue now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Team, User
from kefu.conversations import open_conversation_counts
from kefu.routing.models import AgentPresence
from kefu.routing.rules import PresenceState

ASSIGNABLE_ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True)
class PresenceRow:
    user_id: int
    name: str
    role: str
    state: PresenceState
    status_message: str
    automatic: bool
    changed_at: datetime | None
    last_seen_at: datetime | None
    open_conversations: int


async def get_presence(session: AsyncSession, user_id: int) -> AgentPresence | None:
    return await session.get(AgentPresence, user_id)


async def list_presence(session: AsyncSession) -> list[PresenceRow]:
    """Every active user who may take conversations, offline when they never set a state."""
    rows = (
        await session.execute(
            select(User, AgentPresence)
            .outerjoin(AgentPresence, AgentPresence.user_id == User.id)
            .where(User.is_active.is_(True), User.role.in_(ASSIGNABLE_ROLES))
            .order_by(User.name, User.id)
        )
    ).all()
    counts = await open_conversation_counts(session, [user.id for user, _ in rows])
    return [_row(user, presence, counts.get(user.id, 0)) for user, presence in rows]


def _row(user: User, presence: AgentPresence | None, open_count: int) -> PresenceRow:
    if presence is None:
        return PresenceRow(
            user.id, user.name, user.role, PresenceState.offline, "", True, None, None, open_count
        )
    return PresenceRow(
        user_id=user.id,
        name=user.name,
        role=user.role,
        state=PresenceState(presence.state),
        status_message=presence.status_message,
        automatic=presence.automatic,
        changed_at=presence.changed_at,
        last_seen_at=presence.last_seen_at,
        open_conversations=open_count,
    )


async def available_agents(session: AsyncSession, queue_id: int | None) -> list[int]:
    """Online agents who are members of the queue's team (any online agent when no queue)."""
    query = (
        select(User.id)
        .join(AgentPresence, AgentPresence.user_id == User.id)
        .where(
            AgentPresence.state == PresenceState.online.value,
            User.is_active.is_(True),
            User.role.in_(ASSIGNABLE_ROLES),
        )
        .order_by(User.id)
    )
    if queue_id is not None:
        query = query.where(User.id.in_(select(User.id).join(User.teams).where(Team.id == queue_id)))
    return [int(uid) for uid in await session.scalars(query)]


async def anyone_available(session: AsyncSession, queue_id: int | None) -> bool:
    return bool(await available_agents(session, queue_id))


async def team_ids_of(session: AsyncSession, user_id: int) -> set[int]:
    rows = await session.scalars(select(Team.id).join(Team.members).where(User.id == user_id))
    return {int(tid) for tid in rows}


async def last_assigned(session: AsyncSession, user_ids: list[int]) -> dict[int, datetime | None]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(AgentPresence.user_id, AgentPresence.last_assigned_at).where(
            AgentPresence.user_id.in_(user_ids)
        )
    )
    return {int(uid): at for uid, at in rows.all()}


async def pick_supervisor(session: AsyncSession, queue_id: int | None) -> int | None:
    """Whom an escalation goes to: an active supervisor (else admin), present ones first, members of
    the conversation's queue first, then the one with the fewest active conversations."""
    rows = (
        await session.execute(
            select(User.id, User.role, AgentPresence.state)
            .outerjoin(AgentPresence, AgentPresence.user_id == User.id)
            .where(User.is_active.is_(True), User.role.in_(("supervisor", "admin")))
        )
    ).all()
    if not rows:
        return None
    members = (
        set(await session.scalars(select(User.id).join(User.teams).where(Team.id == queue_id)))
        if queue_id
        else set()
    )
    counts = await open_conversation_counts(session, [uid for uid, _, _ in rows])

    def key(row: tuple[int, str, str | None]) -> tuple[int, int, int, int, int]:
        uid, role, state = row
        return (
            0 if state == PresenceState.online.value else 1 if state in ("busy", "after_call") else 2,
            0 if role == "supervisor" else 1,
            0 if uid in members else 1,
            counts.get(uid, 0),
            uid,
        )

    return min(((int(u), str(r), s) for u, r, s in rows), key=key)[0]
