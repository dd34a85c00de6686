"""API shapes of SLA policies and of one conversation's SLA clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from kefu.conversations import Channel, Priority
from kefu.platform.api import MAX_ID, ApiModel, SafeStr
from kefu.routing import sla
from kefu.routing.models import SlaPolicy

Name = Annotated[SafeStr, Field(min_length=1, max_length=sla.MAX_NAME)]
Position = Annotated[
    int, Field(ge=0, le=sla.MAX_POSITION, description="Policies are tried by position, lowest first.")
]
Minutes = Annotated[int, Field(ge=1, le=sla.MAX_TARGET_MINUTES, description="Business minutes.")]
WarnPercent = Annotated[
    int, Field(ge=0, le=99, description="Warn when this share of a target's time is used; 0: never warn.")
]
TierKey = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$", examples=["vip"])]
CategoryId = Annotated[int, Field(ge=1, le=MAX_ID)]
CalendarId = Annotated[
    int, Field(ge=1, le=MAX_ID, description="Business hours; null: the workspace default.")
]


class EscalationFlags(ApiModel):
    """What happens when a target is breached (each at most once per target)."""

    notify_supervisors: bool = Field(False, description="A notification to every active supervisor.")
    raise_priority: bool = Field(False, description="The priority goes up one step (never above urgent).")
    reassign: bool = Field(
        False, description="Back to its queue so routing picks another agent (not without a queue)."
    )


class SlaPolicyOut(ApiModel):
    id: int
    name: str
    position: int
    is_active: bool
    tiers: list[str] = Field(description="Customer tier keys; empty: every tier.")
    priorities: list[str] = Field(description="Empty: every priority.")
    category_ids: list[int] = Field(description="Empty: every category (and none).")
    channels: list[str] = Field(description="Empty: every channel.")
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    calendar_id: int | None
    warn_percent: int
    escalation: EscalationFlags
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, policy: SlaPolicy) -> SlaPolicyOut:
        flags = policy.escalation or {}
        return cls(
            id=policy.id,
            name=policy.name,
            position=policy.position,
            is_active=policy.is_active,
            tiers=list(policy.tiers),
            priorities=list(policy.priorities),
            category_ids=list(policy.category_ids),
            channels=list(policy.channels),
            first_response_minutes=policy.first_response_minutes,
            next_response_minutes=policy.next_response_minutes,
            resolution_minutes=policy.resolution_minutes,
            calendar_id=policy.calendar_id,
            warn_percent=policy.warn_percent,
            escalation=EscalationFlags(**{e.value: bool(flags.get(e.value)) for e in sla.Escalation}),
            created_at=policy.created_at,
            updated_at=policy.updated_at,
        )


class SlaPolicyCreate(ApiModel):
    name: Name
    position: Position | None = Field(None, description="Omitted: after the last policy.")
    is_active: bool = True
    tiers: list[TierKey] = Field(default_factory=list, max_length=sla.MAX_LIST)
    priorities: list[Priority] = Field(default_factory=list, max_length=sla.MAX_LIST)
    category_ids: list[CategoryId] = Field(default_factory=list, max_length=sla.MAX_LIST)
    channels: list[Channel] = Field(default_factory=list, max_length=sla.MAX_LIST)
    first_response_minutes: Minutes | None = None
    next_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    calendar_id: CalendarId | None = None
    warn_percent: WarnPercent = sla.DEFAULT_WARN_PERCENT
    escalation: EscalationFlags = Field(default_factory=EscalationFlags)

    def values(self) -> dict[str, Any]:
        return _values(self, self.model_fields_set | set(type(self).model_fields))


class SlaPolicyUpdate(ApiModel):
    """Only the fields sent change; send null to drop a target or go back to the default calendar."""

    name: Name | None = None
    position: Position | None = None
    is_active: bool | None = None
    tiers: list[TierKey] | None = Field(None, max_length=sla.MAX_LIST)
    priorities: list[Priority] | None = Field(None, max_length=sla.MAX_LIST)
    category_ids: list[CategoryId] | None = Field(None, max_length=sla.MAX_LIST)
    channels: list[Channel] | None = Field(None, max_length=sla.MAX_LIST)
    first_response_minutes: Minutes | None = None
    next_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    calendar_id: CalendarId | None = None
    warn_percent: WarnPercent | None = None
    escalation: EscalationFlags | None = None

    def values(self) -> dict[str, Any]:
        """The fields sent; null only where null means something (targets, calendar)."""
        nullable = {"first_response_minutes", "next_response_minutes", "resolution_minutes", "calendar_id"}
        sent = {name for name in self.model_fields_set if name in nullable or getattr(self, name) is not None}
        return _values(self, sent)


def _values(body: SlaPolicyCreate | SlaPolicyUpdate, names: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(body, name)
        if name in {"priorities", "channels"}:
            value = [item.value for item in value]
        elif name == "escalation":
            value = value.model_dump()
        values[name] = value
    return values


class SlaTargetOut(ApiModel):
    target: str = Field(description="first_response, next_response or resolution.")
    minutes: int | None
    state: str = Field(description="not_started, running, warning, paused, breached or met.")
    started_at: datetime | None
    due_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    met_at: datetime | None
    remaining_business_seconds: float | None = Field(
        description="Business time left (negative: late); held while the clocks are paused."
    )


class ConversationSlaOut(ApiModel):
    conversation_id: int
    policy_id: int | None = Field(description="null: no policy applies.")
    policy_name: str | None
    paused: bool
    paused_since: datetime | None
    due_at: datetime | None = Field(description="The nearest target still to meet, as the inbox shows it.")
    state: str = Field(description='"" (none), ok, warning or breached.')
    targets: list[SlaTargetOut]

    @classmethod
    def of(cls, view: sla.SlaView) -> ConversationSlaOut:
        return cls(
            conversation_id=view.conversation_id,
            policy_id=view.policy_id,
            policy_name=view.policy_name,
            paused=view.paused,
            paused_since=view.paused_since,
            due_at=view.due_at,
            state=view.state,
            targets=[
                SlaTargetOut(
                    target=t.target,
                    minutes=t.minutes,
                    state=t.state,
                    started_at=t.started_at,
                    due_at=t.due_at,
                    warned_at=t.warned_at,
                    breached_at=t.breached_at,
                    met_at=t.met_at,
                    remaining_business_seconds=t.remaining_seconds,
                )
                for t in view.targets
            ],
        )
