"""The routing configuration: skills, agents' levels and capacity, channels, queues (技能组), tiers.

Writes follow the services' rules (``verb_object(session, actor, …)``, validated, audited in
the caller's transaction, never committed here). Two reads feed the ACD and stay cheap — a
fixed handful of statements whatever the size of the centre:

* :func:`load_routing_config` — every queue's rule and options, the channels' weights and
  default capacities, the tiers;
* :func:`agent_profiles` — the skills (by name) and capacities (defaults applied) of some agents.

A team without a ``routing_queues`` row routes with the defaults of :class:`QueueConfig`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Team, User, users_by_ids
from kefu.calendars import Calendar
from kefu.conversations import Channel, Contact, get_contact
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.events import record_event
from kefu.platform.validation import clean_name, clean_text
from kefu.routing.engine import DEFAULT_WEIGHTS, QueueRule, Strategy
from kefu.routing.events import RoutingChanged
from kefu.routing.models import (
    AgentCapacity,
    AgentSkill,
    ChannelSettings,
    CustomerTier,
    QueueSettings,
    QueueSkill,
    Skill,
)
from kefu.routing.queries import ASSIGNABLE_ROLES
from kefu.routing.rules import (
    DEFAULT_STICKY_SECONDS,
    MAX_LEVEL,
    MAX_WAIT_SETTING,
    MIN_LEVEL,
    AfterHours,
    SkillKind,
)

MAX_NAME = 60
MAX_DESCRIPTION = 200
MIN_CAPACITY, MAX_CAPACITY = 0, 50
MIN_WEIGHT, MAX_WEIGHT = 1, 100
MIN_HEAD_START, MAX_HEAD_START = -3600, 86400
MAX_POSITION = 10_000
MAX_SKILLS = 500  # in the workspace
MAX_TIERS = 50
TIER_KEY = re.compile(r"^[a-z0-9_-]{1,40}$")
FALLBACK_CAPACITY = 1  # a channel that gets its first settings row without a capacity


class _Keep(Enum):
    """A keyword left out of an update: keep the stored value (where None is a value)."""

    token = 0


KEEP = _Keep.token


# -- validation ----------------------------------------------------------------------------------
def check_range(value: object, *, field: str, low: int, high: int) -> int:
    """A whole number within ``low`` … ``high`` (booleans and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            "Enter a whole number from %(min)s to %(max)s.", field=field, params={"min": low, "max": high}
        )
    return value


def check_level(value: object, *, field: str = "level") -> int:
    return check_range(value, field=field, low=MIN_LEVEL, high=MAX_LEVEL)


def check_capacity(value: object, *, field: str = "capacity") -> int:
    return check_range(value, field=field, low=MIN_CAPACITY, high=MAX_CAPACITY)


def check_weight(value: object, *, field: str = "weight") -> int:
    return check_range(value, field=field, low=MIN_WEIGHT, high=MAX_WEIGHT)


def check_wait(value: object, *, field: str) -> int:
    return check_range(value, field=field, low=0, high=MAX_WAIT_SETTING)


def check_head_start(value: object, *, field: str = "head_start_seconds") -> int:
    return check_range(value, field=field, low=MIN_HEAD_START, high=MAX_HEAD_START)


def check_tier_key(raw: str, *, field: str = "key") -> str:
    key = raw.strip()
    if not TIER_KEY.match(key):
        raise InvalidInput("Use 1 to 40 lowercase letters, digits, - or _.", field=field)
    return key


def parse_channel(raw: str, *, field: str = "channel") -> Channel:
    try:
        return Channel(raw)
    except ValueError:
        raise InvalidInput("Choose a channel.", field=field) from None


def _parse_kind(raw: str) -> SkillKind:
    try:
        return SkillKind(raw)
    except ValueError:
        raise InvalidInput("Choose a kind.", field="kind") from None


def _parse_strategy(raw: str) -> Strategy:
    try:
        return Strategy(raw)
    except ValueError:
        raise InvalidInput("Choose a strategy.", field="strategy") from None


def _parse_after_hours(raw: str) -> AfterHours:
    try:
        return AfterHours(raw)
    except ValueError:
        raise InvalidInput("Choose what happens after hours.", field="after_hours") from None


async def _flush_unique(session: AsyncSession, table: str, column: str, message: str) -> None:
    """Write now; a unique value another transaction took meanwhile is a Conflict, not a crash."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if f"{table}_{column}" not in str(exc.orig) and f"{table}.{column}" not in str(exc.orig):
            raise
        raise Conflict(message, field=column) from None


async def _existing_team_ids(session: AsyncSession, team_ids: Iterable[int | None]) -> set[int]:
    wanted = {t for t in team_ids if t is not None}
    if not wanted:
        return set()
    return {int(t) for t in await session.scalars(select(Team.id).where(Team.id.in_(wanted)))}


async def get_team(session: AsyncSession, team_id: int) -> Team:
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound("No team with this id.")
    return team


async def team_names(session: AsyncSession) -> list[tuple[int, str]]:
    """Every team (queue) as (id, name), by name."""
    rows = await session.execute(select(Team.id, Team.name).order_by(Team.name, Team.id))
    return [(int(team_id), str(name)) for team_id, name in rows.all()]


async def _user(session: AsyncSession, user_id: int) -> User:
    user = (await users_by_ids(session, [user_id])).get(user_id)
    if user is None:
        raise NotFound("No user with this id.")
    return user


# -- skills --------------------------------------------------------------------------------------
async def list_skills(session: AsyncSession) -> list[Skill]:
    return list(await session.scalars(select(Skill).order_by(Skill.kind, Skill.name, Skill.id)))


async def get_skill(session: AsyncSession, skill_id: int) -> Skill:
    skill = await session.get(Skill, skill_id)
    if skill is None:
        raise NotFound("No skill with this id.")
    return skill


async def _skill_name_taken(session: AsyncSession, name: str, *, except_id: int | None = None) -> bool:
    stmt = select(Skill.id).where(func.lower(Skill.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(Skill.id != except_id)
    return (await session.scalar(stmt)) is not None


async def create_skill(
    session: AsyncSession, actor: Actor, *, name: str, kind: str = "skill", description: str = ""
) -> Skill:
    name = clean_name(name, max_length=MAX_NAME)
    parsed = _parse_kind(kind)
    text = clean_text(description, field="description", max_length=MAX_DESCRIPTION)
    if await _skill_name_taken(session, name):
        raise Conflict("A skill with this name already exists.", field="name")
    count = await session.scalar(select(func.count()).select_from(Skill))
    if int(count or 0) >= MAX_SKILLS:
        raise Conflict("There are too many skills; delete some first.")
    skill = Skill(name=name, kind=parsed.value, description=text, created_at=utcnow())
    session.add(skill)
    await _flush_unique(session, "routing_skills", "name", "A skill with this name already exists.")
    record_audit(
        session,
        actor,
        "routing.skill_created",
        target_type="skill",
        target_id=skill.id,
        target_label=name,
        kind=skill.kind,
    )
    return skill


async def update_skill(
    session: AsyncSession,
    actor: Actor,
    skill_id: int,
    *,
    name: str | None = None,
    kind: str | None = None,
    description: str | None = None,
) -> Skill:
    skill = await get_skill(session, skill_id)
    changes: dict[str, Any] = {}
    if name is not None:
        new_name = clean_name(name, max_length=MAX_NAME)
        if new_name != skill.name:
            if await _skill_name_taken(session, new_name, except_id=skill.id):
                raise Conflict("A skill with this name already exists.", field="name")
            changes["name"] = skill.name = new_name
    if kind is not None:
        new_kind = _parse_kind(kind).value
        if new_kind != skill.kind:
            changes["kind"] = skill.kind = new_kind
    if description is not None:
        text = clean_text(description, field="description", max_length=MAX_DESCRIPTION)
        if text != skill.description:
            changes["description"] = skill.description = text
    if "name" in changes:
        await _flush_unique(session, "routing_skills", "name", "A skill with this name already exists.")
    if changes:
        record_audit(
            session,
            actor,
            "routing.skill_changed",
            target_type="skill",
            target_id=skill.id,
            target_label=skill.name,
            changes=changes,
        )
    return skill


async def delete_skill(session: AsyncSession, actor: Actor, skill_id: int) -> None:
    """Delete a skill; agents lose it and queues stop requiring it."""
    skill = await get_skill(session, skill_id)
    agents = await session.execute(delete(AgentSkill).where(AgentSkill.skill_id == skill_id))
    queues = await session.execute(delete(QueueSkill).where(QueueSkill.skill_id == skill_id))
    await session.delete(skill)
    record_audit(
        session,
        actor,
        "routing.skill_deleted",
        target_type="skill",
        target_id=skill_id,
        target_label=skill.name,
        agents=_rowcount(agents),
        queues=_rowcount(queues),
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def _skills_by_id(session: AsyncSession, skill_ids: Iterable[int], *, field: str) -> dict[int, Skill]:
    wanted = set(skill_ids)
    if not wanted:
        return {}
    found = {s.id: s for s in await session.scalars(select(Skill).where(Skill.id.in_(wanted)))}
    if len(found) != len(wanted):
        raise InvalidInput("One of the skills does not exist.", field=field)
    return found


def _checked_levels(levels: Mapping[int, int], *, field: str) -> dict[int, int]:
    checked: dict[int, int] = {}
    for skill_id, level in levels.items():
        if isinstance(skill_id, bool) or not isinstance(skill_id, int):
            raise InvalidInput("One of the skills does not exist.", field=field)
        checked[skill_id] = check_level(level, field=f"{field}.{skill_id}")
    return checked


# -- agents: skills and capacity -----------------------------------------------------------------
async def set_agent_skills(
    session: AsyncSession, actor: Actor, user_id: int, levels: Mapping[int, int]
) -> dict[int, int]:
    """Replace the agent's skills with ``levels`` ({skill id: level 1–5}); returns what is stored."""
    user = await _user(session, user_id)
    wanted = _checked_levels(levels, field="skills")
    skills = await _skills_by_id(session, wanted, field="skills")
    current = {
        row.skill_id: row
        for row in await session.scalars(select(AgentSkill).where(AgentSkill.user_id == user_id))
    }
    if {k: r.level for k, r in current.items()} == wanted:
        return wanted
    for skill_id, row in current.items():
        if skill_id not in wanted:
            await session.delete(row)
    for skill_id, level in wanted.items():
        if skill_id in current:
            current[skill_id].level = level
        else:
            session.add(AgentSkill(user_id=user_id, skill_id=skill_id, level=level))
    await session.flush()
    record_audit(
        session,
        actor,
        "routing.agent_skills_set",
        target_type="user",
        target_id=user_id,
        target_label=user.name,
        skills={skills[k].name: v for k, v in sorted(wanted.items())},
    )
    record_event(session, RoutingChanged(user_id))
    return wanted


async def set_agent_capacity(
    session: AsyncSession, actor: Actor, user_id: int, capacity: Mapping[str, int | None]
) -> dict[str, int]:
    """Replace the agent's own limits: {channel: most at once (0–50)}; None or a missing channel
    means the channel's default. Returns the overrides now stored."""
    user = await _user(session, user_id)
    wanted: dict[str, int] = {}
    for raw, value in capacity.items():
        known = parse_channel(str(raw), field="capacity").value
        if value is not None:
            wanted[known] = check_capacity(value, field=f"capacity.{known}")
    current = {
        row.channel: row
        for row in await session.scalars(select(AgentCapacity).where(AgentCapacity.user_id == user_id))
    }
    if {k: r.max_concurrent for k, r in current.items()} == wanted:
        return wanted
    for channel, row in current.items():
        if channel not in wanted:
            await session.delete(row)
    for channel, value in wanted.items():
        if channel in current:
            current[channel].max_concurrent = value
        else:
            session.add(AgentCapacity(user_id=user_id, channel=channel, max_concurrent=value))
    await session.flush()
    record_audit(
        session,
        actor,
        "routing.agent_capacity_set",
        target_type="user",
        target_id=user_id,
        target_label=user.name,
        capacity=dict(sorted(wanted.items())),
    )
    record_event(session, RoutingChanged(user_id))
    return wanted


@dataclass(frozen=True)
class AgentSkillLevel:
    skill_id: int
    name: str
    kind: str
    level: int


@dataclass(frozen=True)
class AgentRouting:
    """One agent's routing settings, as the pages and the API show them."""

    user: User
    skills: list[AgentSkillLevel]  # by kind, then name
    overrides: dict[str, int]  # channel -> own limit
    capacity: dict[str, int]  # channel -> limit in force (the default where no override)

    @property
    def levels(self) -> dict[int, int]:
        return {s.skill_id: s.level for s in self.skills}


async def _agent_routing(session: AsyncSession, users: list[User]) -> list[AgentRouting]:
    ids = [u.id for u in users]
    skills: dict[int, list[AgentSkillLevel]] = {uid: [] for uid in ids}
    overrides: dict[int, dict[str, int]] = {uid: {} for uid in ids}
    if ids:
        rows = await session.execute(
            select(AgentSkill.user_id, Skill.id, Skill.name, Skill.kind, AgentSkill.level)
            .join(Skill, Skill.id == AgentSkill.skill_id)
            .where(AgentSkill.user_id.in_(ids))
            .order_by(AgentSkill.user_id, Skill.kind, Skill.name)
        )
        for uid, skill_id, name, kind, level in rows.all():
            skills[uid].append(AgentSkillLevel(skill_id, name, kind, level))
        caps = await session.execute(
            select(AgentCapacity.user_id, AgentCapacity.channel, AgentCapacity.max_concurrent).where(
                AgentCapacity.user_id.in_(ids)
            )
        )
        for uid, channel, value in caps.all():
            overrides[uid][channel] = value
    defaults = await default_capacities(session)
    return [AgentRouting(u, skills[u.id], overrides[u.id], {**defaults, **overrides[u.id]}) for u in users]


async def list_agent_routing(session: AsyncSession) -> list[AgentRouting]:
    """Every active user who may take conversations, with their skills and capacity."""
    users = list(
        await session.scalars(
            select(User)
            .where(User.is_active.is_(True), User.role.in_(ASSIGNABLE_ROLES))
            .order_by(User.name, User.id)
        )
    )
    return await _agent_routing(session, users)


async def get_agent_routing(session: AsyncSession, user_id: int) -> AgentRouting:
    return (await _agent_routing(session, [await _user(session, user_id)]))[0]


# -- channels ------------------------------------------------------------------------------------
_CHANNEL_ORDER = {channel.value: i for i, channel in enumerate(Channel)}


async def list_channel_settings(session: AsyncSession) -> list[ChannelSettings]:
    rows = list(await session.scalars(select(ChannelSettings)))
    return sorted(rows, key=lambda r: (_CHANNEL_ORDER.get(r.channel, len(_CHANNEL_ORDER)), r.channel))


async def get_channel_settings(session: AsyncSession, channel: str) -> ChannelSettings:
    row = await session.get(ChannelSettings, channel)
    if row is None:
        raise NotFound("No settings for this channel.")
    return row


async def default_capacities(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(ChannelSettings.channel, ChannelSettings.default_capacity))
    return {channel: int(value) for channel, value in rows.all()}


async def update_channel_settings(
    session: AsyncSession,
    actor: Actor,
    channel: str,
    *,
    default_capacity: int | None = None,
    weight: int | None = None,
) -> ChannelSettings:
    """Change a channel's default capacity and/or weight (None keeps it). A known channel without
    settings yet gets them (capacity 1 and its built-in weight unless given)."""
    try:
        known = Channel(channel)
    except ValueError:
        raise NotFound("No such channel.") from None
    capacity = (
        None if default_capacity is None else check_capacity(default_capacity, field="default_capacity")
    )
    new_weight = None if weight is None else check_weight(weight)
    row = await session.get(ChannelSettings, known.value)
    changes: dict[str, int] = {}
    if row is None:
        row = ChannelSettings(
            channel=known.value,
            default_capacity=FALLBACK_CAPACITY if capacity is None else capacity,
            weight=DEFAULT_WEIGHTS.get(known.value, 30) if new_weight is None else new_weight,
        )
        session.add(row)
        changes = {"default_capacity": row.default_capacity, "weight": row.weight}
    else:
        if capacity is not None and capacity != row.default_capacity:
            changes["default_capacity"] = row.default_capacity = capacity
        if new_weight is not None and new_weight != row.weight:
            changes["weight"] = row.weight = new_weight
    if changes:
        await session.flush()
        record_audit(
            session,
            actor,
            "routing.channel_changed",
            target_type="channel",
            target_id=known.value,
            target_label=known.value,
            changes=changes,
        )
        record_event(session, RoutingChanged())
    return row


# -- queues (技能组) ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueConfig:
    """How one queue routes; the defaults are what a team without settings does."""

    team_id: int
    strategy: Strategy = Strategy.least_busy
    prefer_levels: bool = False
    overflow_team_id: int | None = None
    overflow_after_seconds: int | None = None
    sticky_seconds: int = DEFAULT_STICKY_SECONDS
    calendar_id: int | None = None
    after_hours: AfterHours = AfterHours.offline_message
    after_hours_team_id: int | None = None
    skills: Mapping[int, int] = field(default_factory=dict)  # required skill id -> minimum level
    customized: bool = False  # a settings row exists


def _stored_strategy(raw: str) -> Strategy:
    try:
        return Strategy(raw)
    except ValueError:
        return Strategy.least_busy


def _stored_after_hours(raw: str, team_id: int | None) -> tuple[AfterHours, int | None]:
    """After-hours behaviour as stored; "overflow" whose team was deleted reads as taking a message."""
    try:
        value = AfterHours(raw)
    except ValueError:
        return AfterHours.offline_message, None
    if value is AfterHours.overflow and team_id is None:
        return AfterHours.offline_message, None
    return value, team_id if value is AfterHours.overflow else None


def _queue_config(team_id: int, row: QueueSettings | None, skills: Mapping[int, int]) -> QueueConfig:
    if row is None:
        return QueueConfig(team_id, skills=dict(skills))
    after_hours, after_team = _stored_after_hours(row.after_hours, row.after_hours_team_id)
    return QueueConfig(
        team_id=team_id,
        strategy=_stored_strategy(row.strategy),
        prefer_levels=row.prefer_levels,
        overflow_team_id=row.overflow_team_id,
        overflow_after_seconds=row.overflow_after_seconds if row.overflow_team_id is not None else None,
        sticky_seconds=row.sticky_seconds,
        calendar_id=row.calendar_id,
        after_hours=after_hours,
        after_hours_team_id=after_team,
        skills=dict(skills),
        customized=True,
    )


async def get_queue_settings(session: AsyncSession, team_id: int) -> QueueConfig:
    """A queue's settings (the defaults when it has none). NotFound when the team does not exist."""
    await get_team(session, team_id)
    row = await session.get(QueueSettings, team_id)
    skills = await session.execute(
        select(QueueSkill.skill_id, QueueSkill.min_level).where(QueueSkill.team_id == team_id)
    )
    return _queue_config(team_id, row, {int(s): int(level) for s, level in skills.all()})


async def list_queue_settings(session: AsyncSession) -> list[tuple[Team, QueueConfig]]:
    """Every team with its queue settings, by team name."""
    teams = list(await session.scalars(select(Team).order_by(Team.name, Team.id)))
    rows = {r.team_id: r for r in await session.scalars(select(QueueSettings))}
    skills: dict[int, dict[int, int]] = {}
    for team_id, skill_id, level in (
        await session.execute(select(QueueSkill.team_id, QueueSkill.skill_id, QueueSkill.min_level))
    ).all():
        skills.setdefault(team_id, {})[skill_id] = level
    return [(t, _queue_config(t.id, rows.get(t.id), skills.get(t.id, {}))) for t in teams]


async def update_queue_settings(
    session: AsyncSession,
    actor: Actor,
    team_id: int,
    *,
    strategy: str = Strategy.least_busy.value,
    prefer_levels: bool = False,
    overflow_team_id: int | None = None,
    overflow_after_seconds: int | None = None,
    sticky_seconds: int = DEFAULT_STICKY_SECONDS,
    calendar_id: int | None = None,
    after_hours: str = AfterHours.offline_message.value,
    after_hours_team_id: int | None = None,
    skills: Mapping[int, int] | None = None,
) -> QueueConfig:
    """Replace a queue's settings. ``skills``: {skill id: minimum level} (None: none required).

    The overflow wait is kept only with an overflow queue; the after-hours queue only when the
    queue sends contacts there after hours.
    """
    team = await get_team(session, team_id)
    parsed_strategy = _parse_strategy(strategy)
    parsed_after_hours = _parse_after_hours(after_hours)
    sticky = check_wait(sticky_seconds, field="sticky_seconds")
    if overflow_team_id is None:
        overflow_after_seconds = None
    else:
        if overflow_team_id == team_id:
            raise InvalidInput("A queue cannot overflow to itself.", field="overflow_team_id")
        if overflow_after_seconds is None:
            raise InvalidInput(
                "Enter how long a contact waits before the overflow queue helps.",
                field="overflow_after_seconds",
            )
        overflow_after_seconds = check_wait(overflow_after_seconds, field="overflow_after_seconds")
    if parsed_after_hours is AfterHours.overflow:
        if after_hours_team_id is None:
            raise InvalidInput(
                "Choose the queue that takes contacts after hours.", field="after_hours_team_id"
            )
        if after_hours_team_id == team_id:
            raise InvalidInput(
                "Choose another queue than this one for after hours.", field="after_hours_team_id"
            )
    else:
        after_hours_team_id = None
    existing = await _existing_team_ids(session, (overflow_team_id, after_hours_team_id))
    if overflow_team_id is not None and overflow_team_id not in existing:
        raise InvalidInput("This queue does not exist.", field="overflow_team_id")
    if after_hours_team_id is not None and after_hours_team_id not in existing:
        raise InvalidInput("This queue does not exist.", field="after_hours_team_id")
    if calendar_id is not None and await session.get(Calendar, calendar_id) is None:
        raise InvalidInput("These business hours do not exist.", field="calendar_id")
    wanted = _checked_levels(skills or {}, field="skills")
    names = await _skills_by_id(session, wanted, field="skills")

    row = await session.get(QueueSettings, team_id)
    before = _queue_config(team_id, row, {})
    if row is None:
        row = QueueSettings(team_id=team_id, round_robin_last_user_id=None)
        session.add(row)
    row.strategy = parsed_strategy.value
    row.prefer_levels = bool(prefer_levels)
    row.overflow_team_id = overflow_team_id
    row.overflow_after_seconds = overflow_after_seconds
    row.sticky_seconds = sticky
    row.calendar_id = calendar_id
    row.after_hours = parsed_after_hours.value
    row.after_hours_team_id = after_hours_team_id
    row.updated_at = utcnow()
    current = {
        r.skill_id: r for r in await session.scalars(select(QueueSkill).where(QueueSkill.team_id == team_id))
    }
    old_skills = {k: r.min_level for k, r in current.items()}
    for skill_id, queue_skill in current.items():
        if skill_id not in wanted:
            await session.delete(queue_skill)
    for skill_id, level in wanted.items():
        if skill_id in current:
            current[skill_id].min_level = level
        else:
            session.add(QueueSkill(team_id=team_id, skill_id=skill_id, min_level=level))
    await session.flush()
    after = _queue_config(team_id, row, wanted)
    changes = {
        name: _jsonable(getattr(after, name))
        for name in (
            "strategy",
            "prefer_levels",
            "overflow_team_id",
            "overflow_after_seconds",
            "sticky_seconds",
            "calendar_id",
            "after_hours",
            "after_hours_team_id",
        )
        if getattr(after, name) != getattr(before, name) or not before.customized
    }
    if old_skills != wanted:
        changes["skills"] = {names[k].name: v for k, v in sorted(wanted.items())}
    if changes:
        record_audit(
            session,
            actor,
            "routing.queue_changed",
            target_type="team",
            target_id=team_id,
            target_label=team.name,
            changes=changes,
        )
        record_event(session, RoutingChanged())
    return after


def _jsonable(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


# -- customer tiers --------------------------------------------------------------------------------
async def list_tiers(session: AsyncSession) -> list[CustomerTier]:
    return list(await session.scalars(select(CustomerTier).order_by(CustomerTier.position, CustomerTier.id)))


async def get_tier(session: AsyncSession, tier_id: int) -> CustomerTier:
    tier = await session.get(CustomerTier, tier_id)
    if tier is None:
        raise NotFound("No tier with this id.")
    return tier


async def _tier_taken(
    session: AsyncSession, *, key: str | None = None, name: str | None = None, except_id: int | None = None
) -> bool:
    stmt = select(CustomerTier.id)
    if key is not None:
        stmt = stmt.where(CustomerTier.key == key)
    if name is not None:
        stmt = stmt.where(func.lower(CustomerTier.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(CustomerTier.id != except_id)
    return (await session.scalar(stmt.limit(1))) is not None


async def _check_dedicated_team(session: AsyncSession, team_id: int | None) -> int | None:
    if team_id is not None and team_id not in await _existing_team_ids(session, [team_id]):
        raise InvalidInput("This queue does not exist.", field="dedicated_team_id")
    return team_id


async def _make_only_default(session: AsyncSession, tier: CustomerTier) -> None:
    await session.execute(
        update(CustomerTier)
        .where(CustomerTier.id != tier.id, CustomerTier.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    tier.is_default = True


async def create_tier(
    session: AsyncSession,
    actor: Actor,
    *,
    key: str,
    name: str,
    head_start_seconds: int = 0,
    dedicated_team_id: int | None = None,
    position: int | None = None,
    is_default: bool = False,
) -> CustomerTier:
    """Add a tier. The first tier, or one created with ``is_default``, becomes the only default."""
    key = check_tier_key(key)
    name = clean_name(name, max_length=MAX_NAME)
    head_start = check_head_start(head_start_seconds)
    if position is not None:
        position = check_range(position, field="position", low=0, high=MAX_POSITION)
    if await _tier_taken(session, key=key):
        raise Conflict("A tier with this key already exists.", field="key")
    if await _tier_taken(session, name=name):
        raise Conflict("A tier with this name already exists.", field="name")
    team_id = await _check_dedicated_team(session, dedicated_team_id)
    count, last, defaults = (
        await session.execute(
            select(
                func.count(CustomerTier.id),
                func.max(CustomerTier.position),
                func.count(CustomerTier.id).filter(CustomerTier.is_default.is_(True)),
            )
        )
    ).one()
    if int(count or 0) >= MAX_TIERS:
        raise Conflict("There are too many tiers; delete some first.")
    tier = CustomerTier(
        key=key,
        name=name,
        head_start_seconds=head_start,
        dedicated_team_id=team_id,
        position=(int(last) + 1 if last is not None else 0) if position is None else position,
        is_default=False,
        created_at=utcnow(),
    )
    session.add(tier)
    await _flush_unique(session, "customer_tiers", "key", "A tier with this key already exists.")
    if is_default or not int(defaults or 0):
        await _make_only_default(session, tier)
    record_audit(
        session,
        actor,
        "routing.tier_created",
        target_type="tier",
        target_id=tier.id,
        target_label=name,
        key=key,
        head_start_seconds=head_start,
        dedicated_team_id=team_id,
        is_default=tier.is_default,
    )
    return tier


async def update_tier(
    session: AsyncSession,
    actor: Actor,
    tier_id: int,
    *,
    key: str | None = None,
    name: str | None = None,
    head_start_seconds: int | None = None,
    dedicated_team_id: int | _Keep | None = KEEP,
    position: int | None = None,
    is_default: bool | None = None,
) -> CustomerTier:
    """Change a tier (None / KEEP keeps a value). A new key moves the tier's contacts with it.

    ``is_default=True`` makes it the only default; the default cannot be un-made (make another
    tier the default instead).
    """
    tier = await get_tier(session, tier_id)
    changes: dict[str, Any] = {}
    old_key = tier.key
    if key is not None:
        new_key = check_tier_key(key)
        if new_key != tier.key:
            if await _tier_taken(session, key=new_key, except_id=tier.id):
                raise Conflict("A tier with this key already exists.", field="key")
            changes["key"] = tier.key = new_key
    if name is not None:
        new_name = clean_name(name, max_length=MAX_NAME)
        if new_name != tier.name:
            if await _tier_taken(session, name=new_name, except_id=tier.id):
                raise Conflict("A tier with this name already exists.", field="name")
            changes["name"] = tier.name = new_name
    if head_start_seconds is not None:
        head_start = check_head_start(head_start_seconds)
        if head_start != tier.head_start_seconds:
            changes["head_start_seconds"] = tier.head_start_seconds = head_start
    if not isinstance(dedicated_team_id, _Keep):
        team_id = await _check_dedicated_team(session, dedicated_team_id)
        if team_id != tier.dedicated_team_id:
            changes["dedicated_team_id"] = tier.dedicated_team_id = team_id
    if position is not None:
        new_position = check_range(position, field="position", low=0, high=MAX_POSITION)
        if new_position != tier.position:
            changes["position"] = tier.position = new_position
    if is_default is not None and is_default != tier.is_default:
        if not is_default:
            raise Conflict(
                "One tier is always the default: make another tier the default instead.", field="is_default"
            )
        await _make_only_default(session, tier)
        changes["is_default"] = True
    if not changes:
        return tier
    if "key" in changes:
        await session.execute(
            update(Contact)
            .where(Contact.tier == old_key)
            .values(tier=tier.key)
            .execution_options(synchronize_session="fetch")
        )
    await _flush_unique(session, "customer_tiers", "key", "A tier with this key already exists.")
    record_audit(
        session,
        actor,
        "routing.tier_changed",
        target_type="tier",
        target_id=tier.id,
        target_label=tier.name,
        changes=changes,
    )
    return tier


async def delete_tier(session: AsyncSession, actor: Actor, tier_id: int) -> int:
    """Delete a tier that is not the default; its contacts fall back to the default tier (None).

    Returns how many contacts were in it.
    """
    tier = await get_tier(session, tier_id)
    if tier.is_default:
        raise Conflict("The default tier cannot be deleted; make another tier the default first.")
    moved = await session.execute(
        update(Contact)
        .where(Contact.tier == tier.key)
        .values(tier=None)
        .execution_options(synchronize_session="fetch")
    )
    await session.delete(tier)
    record_audit(
        session,
        actor,
        "routing.tier_deleted",
        target_type="tier",
        target_id=tier_id,
        target_label=tier.name,
        key=tier.key,
        contacts=_rowcount(moved),
    )
    return _rowcount(moved)


# -- a contact's service: tier and dedicated agent (专属客服) -------------------------------------------
async def set_contact_service(
    session: AsyncSession,
    actor: Actor,
    contact_id: int,
    *,
    tier: str | None,
    dedicated_agent_id: int | None,
) -> Contact:
    """Put a contact in a tier (None: the default tier) and give them a dedicated agent (or none)."""
    contact = await get_contact(session, contact_id)
    if tier is not None:
        tier = tier.strip()
        if not TIER_KEY.match(tier) or not await _tier_taken(session, key=tier):
            raise InvalidInput("Choose a tier.", field="tier")
    if dedicated_agent_id is not None:
        agent = (await users_by_ids(session, [dedicated_agent_id])).get(dedicated_agent_id)
        if agent is None or not agent.is_active or agent.role not in ASSIGNABLE_ROLES:
            raise InvalidInput("Choose an active agent.", field="dedicated_agent_id")
    if (contact.tier, contact.dedicated_agent_id) == (tier, dedicated_agent_id):
        return contact
    changes = {
        "tier": [contact.tier, tier],
        "dedicated_agent_id": [contact.dedicated_agent_id, dedicated_agent_id],
    }
    contact.tier = tier
    contact.dedicated_agent_id = dedicated_agent_id
    contact.updated_at = utcnow()
    await session.flush()
    record_audit(
        session,
        actor,
        "contact.service_changed",
        target_type="contact",
        target_id=contact.id,
        target_label=contact.name,
        changes=changes,
    )
    return contact


# -- what the ACD reads ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueOptions:
    """What a queue does besides choosing an agent: stickiness and business hours."""

    sticky_seconds: int = DEFAULT_STICKY_SECONDS
    calendar_id: int | None = None  # None: always open
    after_hours: AfterHours = AfterHours.offline_message
    after_hours_team_id: int | None = None  # set exactly when after_hours is "overflow"


DEFAULT_QUEUE_OPTIONS = QueueOptions()


@dataclass(frozen=True)
class RoutingConfig:
    """The whole routing configuration, frozen: load once per decision (or cache until a change).

    ``rules`` and ``queues`` hold the teams that have settings; :meth:`rule` and
    :meth:`options` answer the defaults for any other team.
    """

    rules: Mapping[int, QueueRule]  # team id -> rule (skills keyed by skill name)
    queues: Mapping[int, QueueOptions]  # team id -> stickiness and business hours
    weights: Mapping[str, int]  # channel -> units of an agent's 100
    default_capacity: Mapping[str, int]  # channel -> contacts at once without an agent override
    tiers: Mapping[str, tuple[int, int | None]]  # tier key -> (head start seconds, dedicated team id)
    default_tier: str | None  # the key of the default tier

    def rule(self, team_id: int) -> QueueRule:
        return self.rules.get(team_id) or QueueRule(team_id)

    def options(self, team_id: int) -> QueueOptions:
        return self.queues.get(team_id, DEFAULT_QUEUE_OPTIONS)

    def sticky_seconds(self, team_id: int) -> int:
        return self.options(team_id).sticky_seconds

    def tier(self, key: str | None) -> tuple[int, int | None]:
        """(head start, dedicated team) of a contact's tier; an unknown or missing key is the default."""
        found = self.tiers.get(key) if key is not None else None
        if found is None and self.default_tier is not None:
            found = self.tiers.get(self.default_tier)
        return found or (0, None)


async def load_routing_config(session: AsyncSession) -> RoutingConfig:
    """Everything routing decides with, in four statements."""
    queue_rows = list(await session.scalars(select(QueueSettings)))
    required: dict[int, dict[str, int]] = {}
    for team_id, name, level in (
        await session.execute(
            select(QueueSkill.team_id, Skill.name, QueueSkill.min_level).join(
                Skill, Skill.id == QueueSkill.skill_id
            )
        )
    ).all():
        required.setdefault(team_id, {})[name] = int(level)
    channels = (
        await session.execute(
            select(ChannelSettings.channel, ChannelSettings.weight, ChannelSettings.default_capacity)
        )
    ).all()
    tiers = (
        await session.execute(
            select(
                CustomerTier.key,
                CustomerTier.head_start_seconds,
                CustomerTier.dedicated_team_id,
                CustomerTier.is_default,
            ).order_by(CustomerTier.position, CustomerTier.id)
        )
    ).all()
    rules: dict[int, QueueRule] = {}
    queues: dict[int, QueueOptions] = {}
    for row in queue_rows:
        config = _queue_config(row.team_id, row, {})
        rules[row.team_id] = QueueRule(
            id=row.team_id,
            strategy=config.strategy,
            skills=MappingProxyType(required.get(row.team_id, {})),
            prefer_levels=config.prefer_levels,
            overflow_to=config.overflow_team_id,
            overflow_after=(
                float(config.overflow_after_seconds) if config.overflow_after_seconds is not None else None
            ),
        )
        queues[row.team_id] = QueueOptions(
            sticky_seconds=config.sticky_seconds,
            calendar_id=config.calendar_id,
            after_hours=config.after_hours,
            after_hours_team_id=config.after_hours_team_id,
        )
    for team_id, needs in required.items():  # skills required of a team without other settings
        rules.setdefault(team_id, QueueRule(id=team_id, skills=MappingProxyType(needs)))
    default_tier = next((key for key, _, _, is_default in tiers if is_default), None)
    return RoutingConfig(
        rules=MappingProxyType(rules),
        queues=MappingProxyType(queues),
        weights=MappingProxyType({channel: int(weight) for channel, weight, _ in channels}),
        default_capacity=MappingProxyType({channel: int(cap) for channel, _, cap in channels}),
        tiers=MappingProxyType(
            {key: (int(head), team) for key, head, team, _ in tiers},
        ),
        default_tier=default_tier,
    )


class AgentProfile(NamedTuple):
    """An agent as routing needs them: skills by name, and capacity per channel (defaults applied)."""

    skills: Mapping[str, int]
    capacity: Mapping[str, int]


async def agent_profiles(
    session: AsyncSession,
    user_ids: Iterable[int],
    *,
    default_capacity: Mapping[str, int] | None = None,
) -> dict[int, AgentProfile]:
    """Skills and capacities of these agents, in two statements (three without ``default_capacity``,
    e.g. :attr:`RoutingConfig.default_capacity`). Every id asked about is in the answer."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    defaults = dict(default_capacity) if default_capacity is not None else await default_capacities(session)
    skills: dict[int, dict[str, int]] = {uid: {} for uid in ids}
    capacity: dict[int, dict[str, int]] = {uid: dict(defaults) for uid in ids}
    for uid, name, level in (
        await session.execute(
            select(AgentSkill.user_id, Skill.name, AgentSkill.level)
            .join(Skill, Skill.id == AgentSkill.skill_id)
            .where(AgentSkill.user_id.in_(ids))
        )
    ).all():
        skills[uid][name] = int(level)
    for uid, channel, value in (
        await session.execute(
            select(AgentCapacity.user_id, AgentCapacity.channel, AgentCapacity.max_concurrent).where(
                AgentCapacity.user_id.in_(ids)
            )
        )
    ).all():
        capacity[uid][channel] = int(value)
    return {uid: AgentProfile(MappingProxyType(skills[uid]), MappingProxyType(capacity[uid])) for uid in ids}
