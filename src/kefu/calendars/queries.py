"""Reads of the calendars feature."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kefu.calendars.hours import CalendarSnapshot, CalendarStatus, DayInfo
from kefu.calendars.models import Calendar
from kefu.platform.db import utcnow
from kefu.platform.errors import NotFound

PREVIEW_DAYS = 14
MAX_PREVIEW_DAYS = 92


async def list_calendars(session: AsyncSession) -> Sequence[Calendar]:
    """Every calendar, by name, with its exceptions loaded (so :func:`snapshot` works on each)."""
    stmt = select(Calendar).options(selectinload(Calendar.exceptions)).order_by(Calendar.name)
    return (await session.scalars(stmt)).all()


async def get_calendar(session: AsyncSession, calendar_id: int) -> Calendar:
    found = await session.get(Calendar, calendar_id, options=[selectinload(Calendar.exceptions)])
    if found is None:
        raise NotFound("No business hours with this id.")
    return found


def snapshot(calendar: Calendar) -> CalendarSnapshot:
    """A calendar (read with its exceptions) as a plain snapshot for the business-time logic."""
    return CalendarSnapshot.build(
        timezone=calendar.timezone,
        weekly_hours=calendar.weekly_hours,
        exceptions={e.day: (e.name, e.hours) for e in calendar.exceptions},
        cn_public_holidays=calendar.cn_public_holidays,
    )


async def get_snapshot(session: AsyncSession, calendar_id: int) -> CalendarSnapshot:
    return snapshot(await get_calendar(session, calendar_id))


async def calendar_status(
    session: AsyncSession, calendar_id: int, at: datetime | None = None
) -> CalendarStatus:
    """Open or closed at ``at`` (timezone-aware; default now), why, and when that changes next."""
    return (await get_snapshot(session, calendar_id)).status(at or utcnow())


def preview(calendar: Calendar, *, days: int = PREVIEW_DAYS, start: date | None = None) -> list[DayInfo]:
    """The hours of ``days`` dates from ``start`` (default: today in the calendar's time zone)."""
    rules = snapshot(calendar)
    first = start or rules.local_date(utcnow())
    return rules.days(first, max(1, min(days, MAX_PREVIEW_DAYS)))


async def preview_days(
    session: AsyncSession, calendar_id: int, *, days: int = PREVIEW_DAYS, start: date | None = None
) -> list[DayInfo]:
    return preview(await get_calendar(session, calendar_id), days=days, start=start)
