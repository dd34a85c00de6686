"""Routing tables: presence, skills, capacity, queue settings and customer tiers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base


class AgentPresence(Base):
    """Whether an agent can take contacts now, set by the agent or automatically."""

    __tablename__ = "agent_presence"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(12), index=True)
    status_message: Mapped[str] = mapped_column(String(140), default="")
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    # What the agent was before the system set them offline for lack of heartbeats: their
    # next heartbeat puts them back there.
    resume_state: Mapped[str | None] = mapped_column(String(12))
    resume_automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    # When routing last gave this agent a conversation (the tie-break of the assignment rule).
    last_assigned_at: Mapped[datetime | None]


class Skill(Base):
    """Something a queue may require and an agent may have at a level: a skill, a language, a product."""

    __tablename__ = "routing_skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="skill")  # kefu.routing.rules.SkillKind
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class AgentSkill(Base):
    """An agent's level (1 basic … 5 expert) in one skill."""

    __tablename__ = "agent_skills"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("routing_skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[int] = mapped_column(Integer)


class ChannelSettings(Base):
    """Per channel: how many contacts an agent takes at once by default, and what one costs of the
    agent's 100 units across channels (a call 100, a chat 30, an email 10)."""

    __tablename__ = "routing_channels"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    default_capacity: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer)


class AgentCapacity(Base):
    """An agent's own limit for one channel (without a row the channel's default applies)."""

    __tablename__ = "agent_capacity"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    max_concurrent: Mapped[int] = mapped_column(Integer)


class QueueSettings(Base):
    """How a queue (技能组, a team) routes: strategy, required skills, overflow, hours, stickiness.

    A team without a row routes with the defaults (least busy, no skills, no overflow, always
    open, a 60 s wait for the customer's last agent).
    """

    __tablename__ = "routing_queues"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(20), default="least_busy")
    prefer_levels: Mapped[bool] = mapped_column(Boolean, default=False)
    overflow_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    overflow_after_seconds: Mapped[int | None] = mapped_column(Integer)
    sticky_seconds: Mapped[int] = mapped_column(Integer, default=60)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"))
    after_hours: Mapped[str] = mapped_column(String(20), default="offline_message")
    after_hours_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # The agent round robin gave the last contact to (round robin goes on after them).
    round_robin_last_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime]


class QueueSkill(Base):
    """A skill a queue requires, at a minimum level."""

    __tablename__ = "routing_queue_skills"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("routing_skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    min_level: Mapped[int] = mapped_column(Integer, default=1)


class CustomerTier(Base):
    """A service tier (分级客服: VIP, key, regular…): its head start in the line and its own queue.

    Contacts name their tier by ``key`` (``contacts.tier``; the customer archive will own that
    field); a contact without one is in the default tier.
    """

    __tablename__ = "customer_tiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    head_start_seconds: Mapped[int] = mapped_column(Integer, default=0)
    dedicated_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class SlaPolicy(Base):
    """A set of SLA targets (承诺服务时限) for the conversations it matches, in business minutes.

    The first active policy by ``position`` whose lists all match a conversation applies (an
    empty list matches anything). A target left empty is not measured. ``escalation`` holds
    the actions on a breach: ``notify_supervisors``, ``raise_priority``, ``reassign``.
    """

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    priorities: Mapped[list[str]] = mapped_column(JSON, default=list)
    category_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    # None: the workspace's default business hours (and without those, around the clock).
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"))
    warn_percent: Mapped[int] = mapped_column(Integer, default=80)  # 0: no warning
    escalation: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConversationSla(Base):
    """The SLA clocks of one conversation: per target when it is due, warned, breached and met.

    Clocks run while the conversation is open; pending, snoozed, resolved and closed pause
    them (``paused_since``), and the business seconds spent paused (``paused_seconds``) push
    every due time back. ``next_check_at`` is the next warning or due time the minute job
    must look at (None while paused or when nothing is left to watch).
    """

    __tablename__ = "conversation_sla"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[int] = mapped_column(ForeignKey("sla_policies.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime]
    paused_since: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    first_response_due_at: Mapped[datetime | None]
    first_response_warned_at: Mapped[datetime | None]
    first_response_breached_at: Mapped[datetime | None]
    first_response_met_at: Mapped[datetime | None]
    # The next-response clock starts at a customer message after an agent's reply; the paused
    # seconds counted before it started do not move it.
    next_response_started_at: Mapped[datetime | None]
    next_response_paused_base: Mapped[int] = mapped_column(Integer, default=0)
    next_response_due_at: Mapped[datetime | None]
    next_response_warned_at: Mapped[datetime | None]
    next_response_breached_at: Mapped[datetime | None]
    next_response_met_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    resolution_warned_at: Mapped[datetime | None]
    resolution_breached_at: Mapped[datetime | None]
    resolution_met_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
