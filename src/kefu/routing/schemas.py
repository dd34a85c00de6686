"""API shapes of routing: presence, and the staffing calculator."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from pydantic import Field

from kefu.platform.api import ApiModel, BodyId, SafeStr
from kefu.routing.erlang import AgentFigures, Staffing
from kefu.routing.models import AgentPresence
from kefu.routing.queries import PresenceRow
from kefu.routing.rules import MAX_STATUS_MESSAGE, PresenceState

StatusMessage = Annotated[SafeStr, Field(max_length=MAX_STATUS_MESSAGE)]


class MyPresenceOut(ApiModel):
    state: PresenceState
    status_message: str
    automatic: bool

    @classmethod
    def of(cls, row: AgentPresence | None) -> MyPresenceOut:
        if row is None:
            return cls(state=PresenceState.offline, status_message="", automatic=True)
        return cls(state=PresenceState(row.state), status_message=row.status_message, automatic=row.automatic)


class PresenceUpdate(ApiModel):
    state: PresenceState
    status_message: StatusMessage | None = Field(None, description="Omitted: keep the current message.")
    automatic: bool = Field(
        False,
        description="Set by the client on its own (idle detection); never replaces a state the agent "
        "chose, except their plain online.",
    )


class PresenceOut(ApiModel):
    user_id: int
    name: str
    state: PresenceState
    status_message: str
    changed_at: datetime | None
    open_conversations: int

    @classmethod
    def of(cls, row: PresenceRow) -> PresenceOut:
        return cls(
            user_id=row.user_id,
            name=row.name,
            state=row.state,
            status_message=row.status_message,
            changed_at=row.changed_at,
            open_conversations=row.open_conversations,
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class AgentFiguresOut(ApiModel):
    agents: int
    service_level: float = Field(description="Fraction of contacts answered within the target time (0–1).")
    asa_seconds: float | None = Field(
        description="Average speed of answer in seconds; null when the queue only grows (agents ≤ traffic)."
    )
    occupancy: float = Field(description="Fraction of their time agents spend handling contacts (0–1).")
    p_wait: float = Field(description="Probability that a contact waits (Erlang C, 0–1).")

    @classmethod
    def of(cls, row: AgentFigures) -> AgentFiguresOut:
        return cls(
            agents=row.agents,
            service_level=row.service_level,
            asa_seconds=_finite(row.asa_seconds),
            occupancy=row.occupancy,
            p_wait=row.p_wait,
        )


class StaffingOut(ApiModel):
    """Erlang C: the agents an interval needs, and the figures around that answer."""

    contacts: float = Field(description="Contacts arriving in the interval.")
    interval_seconds: float
    aht_seconds: float = Field(description="Average handling time.")
    target_level: float = Field(description="Service level target: fraction to answer in time (0–1).")
    target_seconds: float = Field(description="…answered within this many seconds.")
    shrinkage: float = Field(description="Fraction of paid time agents are not available (0–1).")
    max_occupancy: float | None = Field(description="Highest average occupancy allowed (0–1), if any.")
    traffic_erlangs: float = Field(description="Traffic intensity: contacts × AHT / interval.")
    agents: int = Field(description="Agents needed on the phones/chats: the fewest meeting every target.")
    scheduled_agents: int = Field(
        description="Agents to schedule after shrinkage: ⌈agents / (1 − shrinkage)⌉."
    )
    service_level: float = Field(description="Service level reached with `agents` (0–1).")
    asa_seconds: float | None = Field(description="Average speed of answer with `agents`, in seconds.")
    occupancy: float = Field(description="Occupancy with `agents` (0–1).")
    p_wait: float = Field(description="Probability that a contact waits, with `agents` (0–1).")
    table: list[AgentFiguresOut] = Field(description="The same figures for agent counts around the answer.")

    @classmethod
    def of(cls, staffing: Staffing, rows: list[AgentFigures]) -> StaffingOut:
        return cls(
            contacts=staffing.contacts,
            interval_seconds=staffing.interval_seconds,
            aht_seconds=staffing.aht_seconds,
            target_level=staffing.target_level,
            target_seconds=staffing.target_seconds,
            shrinkage=staffing.shrinkage,
            max_occupancy=staffing.max_occupancy,
            traffic_erlangs=staffing.traffic,
            agents=staffing.agents,
            scheduled_agents=staffing.scheduled_agents,
            service_level=staffing.service_level,
            asa_seconds=_finite(staffing.asa_seconds),
            occupancy=staffing.occupancy,
            p_wait=staffing.p_wait,
            table=[AgentFiguresOut.of(row) for row in rows],
        )


class EscalateBody(ApiModel):
    supervisor_id: BodyId | None = Field(
        None, description="Leave out to let routing choose: a present supervisor of the queue first."
    )
    note: Annotated[SafeStr, Field(max_length=1000)] = ""


class EscalationOut(ApiModel):
    conversation_id: int
    supervisor_id: int
    priority: str
