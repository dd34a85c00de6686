"""Routing tables: each agent's presence (the full ACD adds queues, skills and capacity)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
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
