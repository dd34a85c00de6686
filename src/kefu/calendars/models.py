"""Business hours: calendars with weekly opening hours, holidays and make-up workdays."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kefu.platform.db import Base


class Calendar(Base):
    """Named business hours in one time zone.

    ``weekly_hours`` maps ISO weekday numbers ("1" = Monday … "7" = Sunday) to a list of
    ``["HH:MM", "HH:MM"]`` opening intervals; a missing or empty day is closed.
    With ``cn_public_holidays`` the official Chinese public holidays close the calendar and
    the official make-up workdays (调休) open it with the hours of a normal workday.
    """

    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    weekly_hours: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON)
    cn_public_holidays: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    exceptions: Mapped[list[CalendarException]] = relationship(
        back_populates="calendar",
        cascade="all, delete-orphan",
        order_by="CalendarException.day",
        lazy="raise",
    )


class CalendarException(Base):
    """One date that differs from the weekly hours: closed (holiday) or open with its own hours."""

    __tablename__ = "calendar_exceptions"
    __table_args__ = (UniqueConstraint("calendar_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))
    hours: Mapped[list[list[str]]] = mapped_column(JSON)  # empty: closed all day

    calendar: Mapped[Calendar] = relationship(back_populates="exceptions", lazy="raise")
