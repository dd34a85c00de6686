"""Every write of routing: presence changes, heartbeats, the sweep of silent agents.

Precedence: the agent's own (manual) choice wins over the system's (automatic) one. An
automatic change replaces only an automatic state or a manual ``online`` (the state idle
detection exists to correct); the single exception is the sweep, which takes an agent with
no heartbeat offline whatever they had chosen — and their next heartbeat puts them back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import User, users_by_ids
from kefu.platform.db import utcnow
from kefu.platform.errors import InvalidInput, NotFound
from kefu.platform.events import record_event
from kefu.platform.validation import clean_text
from kefu.routing.events import PresenceChanged
from kefu.routing.models import AgentPresence
from kefu.routing.rules import HEARTBEAT_TIMEOUT, MAX_STATUS_MESSAGE, PresenceState


def clean_status_message(raw: str) -> str:
    text = clean_text(raw, field="status_message", max_length=MAX_STATUS_MESSAGE * 2)
    text = " ".join(text.split())
    if len(text) > MAX_STATUS_MESSAGE:
        raise InvalidInput(
            "Keep this under %(max)s characters.", field="status_message", params={"max": MAX_STATUS_MESSAGE}
        )
    return text


async def _active_user(session: AsyncSession, user_id: int) -> User:
    user = (await users_by_ids(session, [user_id])).get(user_id)
    if user is None or not user.is_active:
        raise NotFound("No such user.")
    return user


async def _row_for_update(session: AsyncSession, user_id: int) -> AgentPresence | None:
    return await session.scalar(
        select(AgentPresence).where(AgentPresence.user_id == user_id).with_for_update()
    )


def _new_row(user_id: int, now: datetime) -> AgentPresence:
    return AgentPresence(
        user_id=user_id,
        state=PresenceState.offline.value,
        status_message="",
        automatic=True,
        changed_at=now,
        last_seen_at=None,
        resume_state=None,
        resume_automatic=False,
        last_assigned_at=None,
    )


def _overrides(row: AgentPresence, automatic: bool) -> bool:
    """Whether a change made manually/automatically may replace the row's current state."""
    if not automatic or row.automatic:
        return True
    return row.state == PresenceState.online.value


def _apply(
    session: AsyncSession,
    row: AgentPresence,
    user: User,
    state: PresenceState,
    *,
    status_message: str | None,
    automatic: bool,
    now: datetime,
) -> bool:
    message = row.status_message if status_message is None else status_message
    if (row.state, row.status_message, row.automatic) == (state.value, message, automatic):
        return False
    if row.state != state.value:
        row.changed_at = now
    row.state = state.value
    row.status_message = message
    row.automatic = automatic
    if state is not PresenceState.offline or not automatic:
        row.resume_state = None
    record_event(session, PresenceChanged(user.id, user.name, state.value, message, automatic))
    return True


async def set_presence(
    session: AsyncSession,
    user_id: int,
    state: PresenceState,
    *,
    status_message: str | None = None,
    automatic: bool = False,
) -> AgentPresence:
    """Set an agent's presence; ``status_message`` None keeps the current message.

    An automatic change that may not replace the agent's own choice is ignored (the row is
    returned unchanged).
    """
    state = PresenceState(state)
    message = None if status_message is None else clean_status_message(status_message)
    user = await _active_user(session, user_id)
    now = utcnow()
    row = await _row_for_update(session, user_id)
    if row is None:
        row = _new_row(user_id, now)
        session.add(row)
    if not _overrides(row, automatic):
        return row
    _apply(session, row, user, state, status_message=message, automatic=automatic, now=now)
    await session.flush()
    return row


async def record_heartbeat(session: AsyncSession, user_id: int) -> AgentPresence | None:
    """An agent's tab is alive. One that the sweep took offline comes back to their earlier state."""
    row = await _row_for_update(session, user_id)
    if row is None:
        return None  # never chose a state: stays offline until they do
    now = utcnow()
    row.last_seen_at = now
    if row.state == PresenceState.offline.value and row.automatic and row.resume_state:
        user = await _active_user(session, user_id)
        resume = PresenceState(row.resume_state)
        _apply(session, row, user, resume, status_message=None, automatic=row.resume_automatic, now=now)
    await session.flush()
    return row


async def sweep_silent_agents(session: AsyncSession, *, now: datetime | None = None) -> list[int]:
    """Take agents whose heartbeats stopped offline ("last tab closed"); their ids."""
    now = now or utcnow()
    deadline = now - HEARTBEAT_TIMEOUT
    rows = list(
        await session.scalars(
            select(AgentPresence)
            .where(
                AgentPresence.state != PresenceState.offline.value,
                func.coalesce(AgentPresence.last_seen_at, AgentPresence.changed_at) < deadline,
            )
            .order_by(AgentPresence.user_id)
            .with_for_update()
        )
    )
    users = await users_by_ids(session, [r.user_id for r in rows])
    swept: list[int] = []
    for row in rows:
        user = users.get(row.user_id)
        if user is None:
            continue
        resume_state, resume_automatic = row.state, row.automatic
        _apply(session, row, user, PresenceState.offline, status_message=None, automatic=True, now=now)
        row.resume_state, row.resume_automatic = resume_state, resume_automatic
        swept.append(row.user_id)
    await session.flush()
    return swept


async def note_assignment(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> None:
    """Remember when routing last gave this agent a conversation (the rule's tie-break)."""
    row = await session.get(AgentPresence, user_id)
    if row is not None:
        row.last_assigned_at = now or utcnow()
