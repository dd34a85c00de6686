"""Every write of the accounts feature. Services never commit; the caller's scope does."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kefu.accounts import passwords
from kefu.accounts.access import Principal, Role, Scope, grantable_scopes
from kefu.accounts.events import LoginsRevoked, TeamChanged, UserChanged, UserCreated
from kefu.accounts.models import ApiToken, LoginThrottle, Team, User, WebSession
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RateLimited
from kefu.platform.events import record_event
from kefu.platform.i18n import LOCALES
from kefu.platform.validation import clean_name, clean_text

TOKEN_PREFIX = "kefu_"  # noqa: S105  # the public prefix of every API token, not a secret
MAX_TOKENS_PER_USER = 50
SESSION_TOUCH_INTERVAL = timedelta(minutes=10)
IP_FAILURE_FACTOR = 4  # a shared office address gets more tries than one account


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- validation ----------------------------------------------------------------------------------
def normalize_email(raw: str) -> str:
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise InvalidInput("Enter a valid email address.", field="email") from None
    return result.normalized.lower()


def parse_role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise InvalidInput("Choose a role.", field="role") from None


def check_locale(raw: str | None) -> str | None:
    if raw in (None, ""):
        return None
    if raw not in LOCALES:
        raise InvalidInput("Choose a language.", field="locale")
    return raw


# -- users ---------------------------------------------------------------------------------------
async def _user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id, options=[selectinload(User.teams)])
    if user is None:
        raise NotFound("No user with this id.")
    return user


async def _teams(session: AsyncSession, team_ids: Iterable[int]) -> list[Team]:
    wanted = set(team_ids)
    if not wanted:
        return []
    teams = list(await session.scalars(select(Team).where(Team.id.in_(wanted))))
    if len(teams) != len(wanted):
        raise InvalidInput("One of the teams does not exist.", field="team_ids")
    return teams


async def _flush_unique(session: AsyncSession, table: str, column: str, message: str) -> None:
    """Write now; a unique value another transaction took meanwhile is a Conflict, not a crash."""
    try:
        await session.flush()
    except IntegrityError as exc:
        # PostgreSQL names the constraint (uq_users_email), SQLite the column (users.email).
        if f"{table}_{column}" not in str(exc.orig) and f"{table}.{column}" not in str(exc.orig):
            raise
        raise Conflict(message, field=column) from None


async def _email_taken(session: AsyncSession, email: str, *, except_id: int | None = None) -> bool:
    stmt = select(User.id).where(User.email == email)
    if except_id is not None:
        stmt = stmt.where(User.id != except_id)
    return (await session.scalar(stmt)) is not None


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None = None,
    team_ids: Iterable[int] = (),
    locale: str | None = None,
) -> User:
    email = normalize_email(email)
    name = clean_name(name)
    parsed_role = parse_role(role)
    locale = check_locale(locale)
    if await _email_taken(session, email):
        raise Conflict("A user with this email already exists.", field="email")
    password_hash = None
    if password:
        passwords.check_policy(password, email=email, name=name)
        password_hash = await passwords.hash_password(password)
    now = utcnow()
    user = User(
        email=email,
        name=name,
        role=parsed_role,
        password_hash=password_hash,
        is_active=True,
        locale=locale,
        created_at=now,
        updated_at=now,
        password_changed_at=now if password_hash else None,
    )
    user.teams = await _teams(session, team_ids)
    session.add(user)
    await _flush_unique(session, "users", "email", "A user with this email already exists.")
    record_audit(
        session,
        actor,
        "user.created",
        target_type="user",
        target_id=user.id,
        target_label=f"{name} <{email}>",
        role=parsed_role.value,
    )
    record_event(session, UserCreated(user.id, email, name, parsed_role.value))
    return user


async def _active_admins_other_than(session: AsyncSession, user_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(User)
        .where(User.role == Role.admin, User.is_active.is_(True), User.id != user_id)
    )
    return int(await session.scalar(stmt) or 0)


async def update_user(
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    *,
    name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    team_ids: Iterable[int] | None = None,
    locale: str | None = None,
) -> User:
    user = await _user(session, user_id)
    changed: dict[str, object] = {}
    if name is not None:
        new_name = clean_name(name)
        if new_name != user.name:
            user.name = new_name
            changed["name"] = new_name
    if email is not None:
        new_email = normalize_email(email)
        if new_email != user.email:
            if await _email_taken(session, new_email, except_id=user.id):
                raise Conflict("A user with this email already exists.", field="email")
            user.email = new_email
            changed["email"] = new_email
    if role is not None:
        new_role = parse_role(role)
        if new_role != user.role:
            if actor.user_id == user.id:
                raise Conflict("You cannot change your own role.")
            if user.role == Role.admin and await _active_admins_other_than(session, user.id) == 0:
                raise Conflict("The workspace needs at least one active administrator.")
            user.role = new_role
            changed["role"] = new_role.value
    if is_active is not None and is_active != user.is_active:
        if not is_active:
            if actor.user_id == user.id:
                raise Conflict("You cannot deactivate yourself.")
            if user.role == Role.admin and await _active_admins_other_than(session, user.id) == 0:
                raise Conflict("The workspace needs at least one active administrator.")
        user.is_active = is_active
        changed["is_active"] = is_active
    if team_ids is not None:
        teams = await _teams(session, team_ids)
        if {t.id for t in teams} != {t.id for t in user.teams}:
            user.teams = teams
            changed["team_ids"] = sorted(t.id for t in teams)
    if locale is not None:
        new_locale = check_locale(locale)
        if new_locale != user.locale:
            user.locale = new_locale
            changed["locale"] = new_locale
    if not changed:
        return user
    if "email" in changed:
        await _flush_unique(session, "users", "email", "A user with this email already exists.")
    user.updated_at = utcnow()
    record_audit(
        session,
        actor,
        "user.changed",
        target_type="user",
        target_id=user.id,
        target_label=f"{user.name} <{user.email}>",
        changes=changed,
    )
    record_event(session, UserChanged(user.id, user.name, user.role, user.is_active, tuple(sorted(changed))))
    if changed.get("is_active") is False:
        await _revoke_all(session, user.id, reason="deactivated")
    return user


async def set_password(session: AsyncSession, actor: Actor, user_id: int, password: str) -> None:
    """An administrator sets a user's password; every login of that user ends."""
    user = await _user(session, user_id)
    passwords.check_policy(password, email=user.email, name=user.name)
    user.password_hash = await passwords.hash_password(password)
    user.password_changed_at = user.updated_at = utcnow()
    record_audit(
        session,
        actor,
        "user.password_reset",
        target_type="user",
        target_id=user.id,
        target_label=f"{user.name} <{user.email}>",
    )
    await _revoke_all(session, user.id, reason="password_reset")


async def change_own_password(session: AsyncSession, principal: Principal, current: str, new: str) -> None:
    """The user changes their password; their other logins end, this one stays."""
    user = await _user(session, principal.user_id)
    if not await passwords.verify_password(user.password_hash, current):
        raise InvalidInput("The current password is wrong.", field="current_password")
    if current == new:
        raise InvalidInput("Choose a password different from the current one.", field="new_password")
    passwords.check_policy(new, email=user.email, name=user.name, field="new_password")
    user.password_hash = await passwords.hash_password(new)
    user.password_changed_at = user.updated_at = utcnow()
    record_audit(
        session,
        principal.actor,
        "user.password_changed",
        target_type="user",
        target_id=user.id,
        target_label=f"{user.name} <{user.email}>",
    )
    await _revoke_all(session, user.id, keep=principal.session_id, reason="password_changed")


async def update_profile(
    session: AsyncSession, principal: Principal, *, name: str | None = None, locale: str | None = None
) -> User:
    return await update_user(session, principal.actor, principal.user_id, name=name, locale=locale)


# -- login and browser sessions ----------------------------------------------------------------
@dataclass(frozen=True)
class LoginResult:
    user: User | None
    token: str | None
    error: InvalidInput | RateLimited | None


async def _throttle_rows(session: AsyncSession, keys: Sequence[str]) -> dict[str, LoginThrottle]:
    rows = await session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    return {row.key: row for row in rows}


def _printable(text: str) -> str:
    """Control characters (a NUL, which PostgreSQL cannot store) shown as U+FFFD: no account has them."""
    return "".join("\ufffd" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)


async def login(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str,
    ttl: timedelta,
    max_failures: int,
    lockout: timedelta,
) -> LoginResult:
    """Check a password login. Returns (rather than raises) failures so the throttle state commits."""
    now = utcnow()
    address = _printable((email or "").strip().lower()[:254])
    keys = [f"account:{address}", f"ip:{ip or '-'}"]
    limits = {keys[0]: max_failures, keys[1]: max_failures * IP_FAILURE_FACTOR}
    rows = await _throttle_rows(session, keys)
    locked = [row.locked_until for row in rows.values() if row.locked_until and row.locked_until > now]
    if locked:
        wait = int((max(locked) - now).total_seconds()) + 1
        return LoginResult(
            None,
            None,
            RateLimited(
                "Too many failed logins. Try again in %(minutes)s minutes.",
                retry_after=wait,
                params={"minutes": max(1, (wait + 59) // 60)},
            ),
        )

    user = await session.scalar(select(User).where(User.email == address)) if address else None
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        for key in keys:
            row = rows.get(key)
            if row is None:
                row = LoginThrottle(key=key, failures=0, window_started_at=now)
                session.add(row)
            elif row.window_started_at < now - lockout:
                row.failures, row.window_started_at, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= limits[key]:
                row.locked_until = now + lockout
                record_audit(
                    session,
                    Actor.anonymous(ip),
                    "login.locked",
                    target_type="login",
                    target_id=key,
                    target_label=key,
                    failures=row.failures,
                )
        record_audit(
            session,
            Actor.anonymous(ip),
            "login.failed",
            target_type="user",
            target_id=user.id if user else None,
            target_label=address,
        )
        return LoginResult(None, None, InvalidInput("Wrong email or password.", field="password"))

    if keys[0] in rows:
        await session.delete(rows[keys[0]])
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=sha256(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ttl,
            ip=ip,
            user_agent=user_agent[:300],
        )
    )
    user.last_login_at = now
    record_audit(
        session,
        Actor(kind="user", label=f"{user.name} <{user.email}>", user_id=user.id, ip=ip),
        "login.succeeded",
        target_type="user",
        target_id=user.id,
        target_label=user.email,
    )
    return LoginResult(user, token, None)


async def logout(session: AsyncSession, principal: Principal) -> None:
    if principal.session_id is not None:
        await session.execute(delete(WebSession).where(WebSession.id == principal.session_id))
    record_audit(
        session,
        principal.actor,
        "logout",
        target_type="user",
        target_id=principal.user_id,
        target_label=principal.email,
    )
    record_event(session, LoginsRevoked(principal.user_id, "logout"))


async def logout_everywhere(session: AsyncSession, actor: Actor, user_id: int) -> int:
    user = await _user(session, user_id)
    count = await _revoke_all(session, user.id, reason="logout_everywhere")
    record_audit(
        session,
        actor,
        "user.logged_out_everywhere",
        target_type="user",
        target_id=user.id,
        target_label=f"{user.name} <{user.email}>",
        sessions=count,
    )
    return count


async def revoke_session(session: AsyncSession, principal: Principal, session_id: int) -> None:
    """End one of one's own browser sessions (from the list on the account page)."""
    row = await session.get(WebSession, session_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound("No such session.")
    await session.delete(row)
    record_audit(
        session,
        principal.actor,
        "session.revoked",
        target_type="user",
        target_id=principal.user_id,
        target_label=principal.email,
        session_id=session_id,
    )
    record_event(session, LoginsRevoked(principal.user_id, "session_revoked"))


async def _revoke_all(session: AsyncSession, user_id: int, *, reason: str, keep: int | None = None) -> int:
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(WebSession.id != keep)
    result = await session.execute(stmt)
    record_event(session, LoginsRevoked(user_id, reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # DML results carry rowcount


async def touch_session(session: AsyncSession, session_id: int, ttl: timedelta) -> None:
    row = await session.get(WebSession, session_id)
    if row is not None:
        now = utcnow()
        row.last_seen_at = now
        row.expires_at = now + ttl


def session_needs_touch(last_seen_at: datetime) -> bool:
    return utcnow() - last_seen_at > SESSION_TOUCH_INTERVAL


# -- API tokens ----------------------------------------------------------------------------------
async def create_api_token(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    scopes: Iterable[str],
    expires_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for the principal's own user; the raw value is returned once, never stored."""
    name = clean_name(name)
    try:
        wanted = {Scope(s) for s in scopes}
    except ValueError:
        raise InvalidInput("Unknown scope.", field="scopes") from None
    if not wanted:
        raise InvalidInput("Choose at least one scope.", field="scopes")
    allowed = set(grantable_scopes(principal.role))
    if principal.scopes is not None:
        allowed &= principal.scopes  # a token cannot mint a stronger token
    if not wanted <= allowed:
        raise PermissionDenied("Your role cannot grant one of these scopes.")
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise InvalidInput("Expiry must be between 1 and 3650 days.", field="expires_days")
    live = await session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == principal.user_id, ApiToken.revoked_at.is_(None))
    )
    if int(live or 0) >= MAX_TOKENS_PER_USER:
        raise Conflict("You have too many tokens; revoke some first.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=principal.user_id,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        token_hash=sha256(raw),
        scopes=sorted(s.value for s in wanted),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(token)
    await session.flush()
    record_audit(
        session,
        principal.actor,
        "token.created",
        target_type="token",
        target_id=token.id,
        target_label=name,
        scopes=token.scopes,
    )
    return token, raw


async def revoke_api_token(session: AsyncSession, principal: Principal, token_id: int) -> None:
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != principal.user_id:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_audit(
            session,
            principal.actor,
            "token.revoked",
            target_type="token",
            target_id=token.id,
            target_label=token.name,
        )


async def note_token_use(session: AsyncSession, token_id: int) -> None:
    token = await session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = utcnow()


# -- teams ---------------------------------------------------------------------------------------
async def _team(session: AsyncSession, team_id: int) -> Team:
    team = await session.get(Team, team_id, options=[selectinload(Team.members)])
    if team is None:
        raise NotFound("No team with this id.")
    return team


async def _users(session: AsyncSession, user_ids: Iterable[int]) -> list[User]:
    wanted = set(user_ids)
    if not wanted:
        return []
    users = list(await session.scalars(select(User).where(User.id.in_(wanted))))
    if len(users) != len(wanted):
        raise InvalidInput("One of the members does not exist.", field="member_ids")
    return users


async def _team_name_taken(session: AsyncSession, name: str, *, except_id: int | None = None) -> bool:
    stmt = select(Team.id).where(func.lower(Team.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(Team.id != except_id)
    return (await session.scalar(stmt)) is not None


def _clean_description(raw: str) -> str:
    return clean_text(raw, field="description", max_length=500)


async def create_team(
    session: AsyncSession, actor: Actor, *, name: str, description: str = "", member_ids: Iterable[int] = ()
) -> Team:
    name = clean_name(name)
    if await _team_name_taken(session, name):
        raise Conflict("A team with this name already exists.", field="name")
    team = Team(name=name, description=_clean_description(description), created_at=utcnow())
    team.members = await _users(session, member_ids)
    session.add(team)
    await _flush_unique(session, "teams", "name", "A team with this name already exists.")
    record_audit(session, actor, "team.created", target_type="team", target_id=team.id, target_label=name)
    record_event(session, TeamChanged(team.id, team.name, tuple(sorted(u.id for u in team.members))))
    return team


async def update_team(
    session: AsyncSession,
    actor: Actor,
    team_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    member_ids: Iterable[int] | None = None,
) -> Team:
    team = await _team(session, team_id)
    changed: dict[str, object] = {}
    if name is not None:
        new_name = clean_name(name)
        if new_name != team.name:
            if await _team_name_taken(session, new_name, except_id=team.id):
                raise Conflict("A team with this name already exists.", field="name")
            team.name = new_name
            changed["name"] = new_name
    if description is not None:
        new_description = _clean_description(description)
        if new_description != team.description:
            team.description = new_description
            changed["description"] = new_description
    if member_ids is not None:
        members = await _users(session, member_ids)
        if {u.id for u in members} != {u.id for u in team.members}:
            team.members = members
            changed["member_ids"] = sorted(u.id for u in members)
    if "name" in changed:
        await _flush_unique(session, "teams", "name", "A team with this name already exists.")
    if changed:
        record_audit(
            session,
            actor,
            "team.changed",
            target_type="team",
            target_id=team.id,
            target_label=team.name,
            changes=changed,
        )
        record_event(session, TeamChanged(team.id, team.name, tuple(sorted(u.id for u in team.members))))
    return team


async def delete_team(session: AsyncSession, actor: Actor, team_id: int) -> None:
    team = await _team(session, team_id)
    await session.delete(team)
    record_audit(
        session, actor, "team.deleted", target_type="team", target_id=team_id, target_label=team.name
    )
    record_event(session, TeamChanged(team_id, team.name, (), deleted=True))


# -- housekeeping --------------------------------------------------------------------------------
async def purge_expired(session: AsyncSession, *, lockout: timedelta) -> None:
    now = utcnow()
    await session.execute(delete(WebSession).where(WebSession.expires_at < now))
    await session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_started_at < now - lockout,
            (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until < now),
        )
    )
