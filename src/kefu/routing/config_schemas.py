"""API shapes of the routing configuration: skills, agents, channels, queues, tiers, a contact's service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from kefu.conversations import Channel, Contact
from kefu.platform.api import MAX_ID, ApiModel, BodyId, SafeStr
from kefu.routing import config
from kefu.routing.engine import Strategy
from kefu.routing.models import ChannelSettings, CustomerTier, Skill
from kefu.routing.rules import (
    DEFAULT_STICKY_SECONDS,
    MAX_LEVEL,
    MAX_WAIT_SETTING,
    MIN_LEVEL,
    AfterHours,
    SkillKind,
)

Name = Annotated[SafeStr, Field(min_length=1, max_length=config.MAX_NAME)]
Description = Annotated[SafeStr, Field(max_length=config.MAX_DESCRIPTION)]
Level = Annotated[int, Field(ge=MIN_LEVEL, le=MAX_LEVEL, description="1 basic … 5 expert.")]
SkillId = Annotated[int, Field(ge=1, le=MAX_ID)]
Capacity = Annotated[int, Field(ge=config.MIN_CAPACITY, le=config.MAX_CAPACITY)]
Weight = Annotated[int, Field(ge=config.MIN_WEIGHT, le=config.MAX_WEIGHT)]
Wait = Annotated[int, Field(ge=0, le=MAX_WAIT_SETTING, description="Seconds.")]
TierKey = Annotated[str, Field(pattern=config.TIER_KEY.pattern, examples=["vip"])]
HeadStart = Annotated[
    int,
    Field(
        ge=config.MIN_HEAD_START,
        le=config.MAX_HEAD_START,
        description="Seconds a contact of this tier is moved ahead in line (negative: behind).",
    ),
]
Position = Annotated[int, Field(ge=0, le=config.MAX_POSITION)]
MAX_LEVELS = 200  # skills in one request


# -- skills ----------------------------------------------------------------------------------------
class SkillOut(ApiModel):
    id: int
    name: str
    kind: SkillKind
    description: str
    created_at: datetime

    @classmethod
    def of(cls, skill: Skill) -> SkillOut:
        return cls(
            id=skill.id,
            name=skill.name,
            kind=SkillKind(skill.kind) if skill.kind in SkillKind.__members__ else SkillKind.skill,
            description=skill.description,
            created_at=skill.created_at,
        )


class SkillCreate(ApiModel):
    name: Name
    kind: SkillKind = SkillKind.skill
    description: Description = ""


class SkillUpdate(ApiModel):
    name: Name | None = None
    kind: SkillKind | None = None
    description: Description | None = None


# -- agents ----------------------------------------------------------------------------------------
class AgentSkillOut(ApiModel):
    skill_id: int
    name: str
    level: int


class AgentRoutingOut(ApiModel):
    user_id: int
    name: str
    skills: list[AgentSkillOut]
    capacity: dict[str, int] = Field(description="Most contacts at once per channel, defaults applied.")
    capacity_overrides: dict[str, int] = Field(description="The agent's own limits (others: the default).")

    @classmethod
    def of(cls, agent: config.AgentRouting) -> AgentRoutingOut:
        return cls(
            user_id=agent.user.id,
            name=agent.user.name,
            skills=[AgentSkillOut(skill_id=s.skill_id, name=s.name, level=s.level) for s in agent.skills],
            capacity=agent.capacity,
            capacity_overrides=agent.overrides,
        )


class AgentRoutingUpdate(ApiModel):
    """Replaces the agent's skills and own limits; a part left out is kept."""

    skills: Annotated[dict[SkillId, Level], Field(max_length=MAX_LEVELS)] | None = Field(
        None, description="Skill id → level (1–5); skills not named are removed.", examples=[{"1": 4}]
    )
    capacity: dict[Channel, Capacity | None] | None = Field(
        None,
        description="Channel → most contacts at once (0–50); null or not named: the channel's default.",
        examples=[{"web_chat": 2}],
    )


# -- channels --------------------------------------------------------------------------------------
class ChannelOut(ApiModel):
    channel: str
    default_capacity: int = Field(description="Contacts of this channel an agent takes at once by default.")
    weight: int = Field(description="Units of an agent's 100 that one contact of this channel uses.")

    @classmethod
    def of(cls, row: ChannelSettings) -> ChannelOut:
        return cls(channel=row.channel, default_capacity=row.default_capacity, weight=row.weight)


class ChannelUpdate(ApiModel):
    default_capacity: Capacity | None = None
    weight: Weight | None = None


# -- queues ----------------------------------------------------------------------------------------
class QueueSkillOut(ApiModel):
    skill_id: int
    min_level: int


class QueueOut(ApiModel):
    team_id: int
    team_name: str
    strategy: Strategy
    prefer_levels: bool
    required_skills: list[QueueSkillOut]
    overflow_team_id: int | None
    overflow_after_seconds: int | None
    sticky_seconds: int
    calendar_id: int | None
    after_hours: AfterHours
    after_hours_team_id: int | None
    customized: bool = Field(description="False: the team routes with the defaults shown.")

    @classmethod
    def of(cls, team_name: str, queue: config.QueueConfig) -> QueueOut:
        return cls(
            team_id=queue.team_id,
            team_name=team_name,
            strategy=queue.strategy,
            prefer_levels=queue.prefer_levels,
            required_skills=[
                QueueSkillOut(skill_id=skill_id, min_level=level)
                for skill_id, level in sorted(queue.skills.items())
            ],
            overflow_team_id=queue.overflow_team_id,
            overflow_after_seconds=queue.overflow_after_seconds,
            sticky_seconds=queue.sticky_seconds,
            calendar_id=queue.calendar_id,
            after_hours=queue.after_hours,
            after_hours_team_id=queue.after_hours_team_id,
            customized=queue.customized,
        )


class QueueUpdate(ApiModel):
    """Replaces the queue's settings; a field left out takes its default."""

    strategy: Strategy = Strategy.least_busy
    prefer_levels: bool = Field(False, description="Among eligible agents, higher levels first.")
    required_skills: Annotated[dict[SkillId, Level], Field(max_length=MAX_LEVELS)] = Field(
        default_factory=dict, description="Skill id → minimum level.", examples=[{"1": 2}]
    )
    overflow_team_id: BodyId | None = Field(None, description="The queue that helps after a wait.")
    overflow_after_seconds: Wait | None = Field(None, description="Required with an overflow queue.")
    sticky_seconds: Wait = Field(
        DEFAULT_STICKY_SECONDS, description="How long a returning customer waits for their last agent."
    )
    calendar_id: BodyId | None = Field(None, description="Business hours; null: always open.")
    after_hours: AfterHours = AfterHours.offline_message
    after_hours_team_id: BodyId | None = Field(None, description='Required when after_hours is "overflow".')


# -- tiers -----------------------------------------------------------------------------------------
class TierOut(ApiModel):
    id: int
    key: str
    name: str
    head_start_seconds: int
    dedicated_team_id: int | None
    position: int
    is_default: bool

    @classmethod
    def of(cls, tier: CustomerTier) -> TierOut:
        return cls(
            id=tier.id,
            key=tier.key,
            name=tier.name,
            head_start_seconds=tier.head_start_seconds,
            dedicated_team_id=tier.dedicated_team_id,
            position=tier.position,
            is_default=tier.is_default,
        )


class TierCreate(ApiModel):
    key: TierKey
    name: Name
    head_start_seconds: HeadStart = 0
    dedicated_team_id: BodyId | None = Field(None, description="A queue of its own for this tier.")
    position: Position | None = Field(None, description="Order in lists; default: last.")
    is_default: bool = Field(False, description="Make this the default tier (the only one).")


class TierUpdate(ApiModel):
    key: TierKey | None = Field(None, description="A new key moves the tier's contacts with it.")
    name: Name | None = None
    head_start_seconds: HeadStart | None = None
    dedicated_team_id: BodyId | None = Field(None, description="null removes the dedicated queue.")
    position: Position | None = None
    is_default: bool | None = Field(None, description="true makes it the default; the default stays one.")


# -- a contact's service -----------------------------------------------------------------------------
class ContactServiceUpdate(ApiModel):
    tier: TierKey | None = Field(None, description="A tier key; null: the default tier.")
    dedicated_agent_id: BodyId | None = Field(None, description="The contact's dedicated agent (专属客服).")


class ContactServiceOut(ApiModel):
    contact_id: int
    tier: str | None
    dedicated_agent_id: int | None

    @classmethod
    def of(cls, contact: Contact) -> ContactServiceOut:
        return cls(contact_id=contact.id, tier=contact.tier, dedicated_agent_id=contact.dedicated_agent_id)
