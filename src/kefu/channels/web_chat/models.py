"""Web chat widgets: one per website (or per part of a site), each with its own look and queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base


class Widget(Base):
    __tablename__ = "web_widgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)  # public, in the snippet
    name: Mapped[str] = mapped_column(String(100))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(60))
    color: Mapped[str] = mapped_column(String(7), default="#1f6feb")
    position: Mapped[str] = mapped_column(String(5), default="right")
    locale: Mapped[str] = mapped_column(String(10), default="auto")
    welcome_message: Mapped[str] = mapped_column(Text, default="")
    away_message: Mapped[str] = mapped_column(Text, default="")
    offline_message: Mapped[str] = mapped_column(Text, default="")
    prechat_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    prechat_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    identity_secret: Mapped[str] = mapped_column(String(64))
    require_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
