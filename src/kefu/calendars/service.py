"""Writes of the calendars feature."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.calendars.models import Calendar
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput
from kefu.platform.validation import clean_name

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def check_intervals(raw: Sequence[Sequence[str]], *, field: str) -> list[list[str]]:
    """Opening intervals of one day: ``[["09:00", "12:00"], ["13:00", "18:00"]]``, sorted, not overlapping."""
    intervals = []
    for item in raw:
        if len(item) != 2 or not all(isinstance(t, str) and _TIME.match(t) for t in item):
            raise InvalidInput("Times look like 09:00; a day may end at 24:00.", field=field)
        start, end = item
        if start >= end:
            raise InvalidInput("Each opening must end after it starts.", field=field)
        intervals.append([start, end])
    intervals.sort()
    for before, after in itertools.pairwise(intervals):
        if after[0] < before[1]:
            raise InvalidInput("Openings on one day must not overlap.", field=field)
    return intervals


def check_weekly_hours(raw: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, list[list[str]]]:
    hours: dict[str, list[list[str]]] = {}
    for day, intervals in raw.items():
        if day not in {"1", "2", "3", "4", "5", "6", "7"}:
            raise InvalidInput("Weekdays are numbered 1 (Monday) to 7 (Sunday).", field="weekly_hours")
        checked = check_intervals(intervals, field="weekly_hours")
        if checked:
            hours[day] = checked
    return hours


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("Choose a time zone from the list.", field="timezone") from None
    return value


async def create_calendar(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    timezone: str,
    weekly_hours: Mapping[str, Sequence[Sequence[str]]],
    cn_public_holidays: bool = False,
) -> Calendar:
    name = clean_name(name)
    taken = await session.scalar(select(Calendar.id).where(func.lower(Calendar.name) == name.lower()))
    if taken is not None:
        raise Conflict("Business hours with this name already exist.", field="name")
    now = utcnow()
    calendar = Calendar(
        name=name,
        timezone=check_timezone(timezone),
        weekly_hours=check_weekly_hours(weekly_hours),
        cn_public_holidays=cn_public_holidays,
        created_at=now,
        updated_at=now,
    )
    session.add(calendar)
    await session.flush()
    record_audit(
        session, actor, "calendar.created", target_type="calendar", target_id=calendar.id, target_label=name
    )
    return calendar
