"""Reads of the accounts feature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kefu.accounts.access import Principal, Role, Scope
from kefu.accounts.models import ApiToken, Team, User, WebSession, team_members
from kefu.accounts.service import TOKEN_PREFIX, sha256
from kefu.platform.db import utcnow
from kefu.platform.errors import NotFound


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id, options=[selectinload(User.teams)])
    if user is None:
        raise NotFound("No user with this id.")
    return user


@dataclass(frozen=True)
class UserFilter:
    text: str | None = None
    role: Role | None = None
    team_id: int | None = None
    active: bool | None = None


async def list_users(
    session: AsyncSession, filters: UserFilter = UserFilter(), *, limit: int = 50, after_id: int | None = None
) -> Sequence[User]:
    stmt = select(User).options(selectinload(User.teams)).order_by(User.id).limit(limit)
    if filters.text:
        pattern = filters.text.strip()
        stmt = stmt.where(
            or_(
                User.name.icontains(pattern, autoescape=True),
                User.email.contains(pattern.lower(), autoescape=True),
            )
        )
    if filters.role is not None:
        stmt = stmt.where(User.role == filters.role)
    if filters.team_id is not None:
        stmt = stmt.where(
            User.id.in_(select(team_members.c.user_id).where(team_members.c.team_id == filters.team_id))
        )
    if filters.active is not None:
        stmt = stmt.where(User.is_active.is_(filters.active))
    if after_id is not None:
        stmt = stmt.where(User.id > after_id)
    return (await session.scalars(stmt)).all()


async def count_users_by_role(session: AsyncSession) -> dict[Role, int]:
    rows = (
        await session.execute(
            select(User.role, func.count()).where(User.is_active.is_(True)).group_by(User.role)
        )
    ).all()
    counts = dict.fromkeys(Role, 0)
    counts.update({Role(role): count for role, count in rows})
    return counts


async def has_any_user(session: AsyncSession) -> bool:
    return (await session.scalar(select(User.id).limit(1))) is not None


async def users_by_ids(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, User]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(set(user_ids))))
    return {user.id: user for user in rows}


async def list_teams(session: AsyncSession) -> Sequence[Team]:
    stmt = select(Team).options(selectinload(Team.members)).order_by(Team.name)
    return (await session.scalars(stmt)).all()


async def get_team(session: AsyncSession, team_id: int) -> Team:
    team = await session.get(Team, team_id, options=[selectinload(Team.members)])
    if team is None:
        raise NotFound("No team with this id.")
    return team


async def list_sessions(session: AsyncSession, user_id: int) -> Sequence[WebSession]:
    stmt = (
        select(WebSession)
        .where(WebSession.user_id == user_id, WebSession.expires_at > utcnow())
        .order_by(WebSession.last_seen_at.desc())
    )
    return (await session.scalars(stmt)).all()


async def list_tokens(session: AsyncSession, user_id: int) -> Sequence[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    return (await session.scalars(stmt)).all()


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    last_seen_at: datetime | None = None  # sessions: to refresh the sliding expiry now and then
    token_last_used_at: datetime | None = None


def _principal(
    user: User,
    *,
    ip: str | None,
    session_id: int | None = None,
    token_id: int | None = None,
    scopes: frozenset[Scope] | None = None,
) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        locale=user.locale,
        session_id=session_id,
        token_id=token_id,
        scopes=scopes,
        ip=ip,
    )


async def authenticate_session(session: AsyncSession, raw: str, *, ip: str | None) -> Authenticated | None:
    row = (
        await session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(
                WebSession.token_hash == sha256(raw),
                WebSession.expires_at > utcnow(),
                User.is_active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    web_session, user = row
    return Authenticated(
        _principal(user, session_id=web_session.id, ip=ip), last_seen_at=web_session.last_seen_at
    )


async def authenticate_token(session: AsyncSession, raw: str, *, ip: str | None) -> Authenticated | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(
                ApiToken.token_hash == sha256(raw),
                ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
                User.is_active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    token, user = row
    scopes = frozenset(Scope(s) for s in token.scopes if s in Scope._value2member_map_)
    return Authenticated(
        _principal(user, token_id=token.id, scopes=scopes, ip=ip), token_last_used_at=token.last_used_at
    )


async def session_is_live(session: AsyncSession, session_id: int) -> bool:
    stmt = select(WebSession.id).where(WebSession.id == session_id, WebSession.expires_at > utcnow())
    return (await session.scalar(stmt)) is not None
