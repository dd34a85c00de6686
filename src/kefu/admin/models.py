"""Workspace settings an administrator edits in the UI (process settings come from the environment)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base

SINGLETON_ID = 1


class WorkspaceSettings(Base):
    """One row: the workspace's name, time zone and default business hours."""

    __tablename__ = "workspace_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    default_calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime]
