"""API shapes of routing: presence."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from kefu.platform.api import ApiModel, SafeStr
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
