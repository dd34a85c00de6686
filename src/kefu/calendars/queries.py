"""Reads of the calendars feature."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kefu.calendars.models import Calendar
from kefu.platform.errors import NotFound


async def list_calendars(session: AsyncSession) -> Sequence[Calendar]:
    return (await session.scalars(select(Calendar).order_by(Calendar.name))).all()


async def get_calendar(session: AsyncSession, calendar_id: int) -> Calendar:
    found = await session.get(Calendar, calendar_id, options=[selectinload(Calendar.exceptions)])
    if found is None:
        raise NotFound("No business hours with this id.")
    return found
