"""Writes of the calendars feature. Services never commit; the caller's scope does."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kefu.calendars.events import CalendarChanged
from kefu.calendars.models import Calendar, CalendarException
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.events import record_event
from kefu.platform.timezones import check_timezone
from kefu.platform.validation import clean_name

WEEKDAYS = ("1", "2", "3", "4", "5", "6", "7")  # ISO: 1 = Monday … 7 = Sunday
MAX_OPENINGS_PER_DAY = 12
MAX_EXCEPTIONS = 1000  # per calendar
FIRST_YEAR, LAST_YEAR = 1970, 2199  # exceptions are dated within these years

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
# One opening as people type it: 9:00-12:00, 09:00–12:00, 9：00~12：00 …
_TYPED_OPENING = re.compile(r"^(\d{1,2})[:：](\d{2})\s*[-–—~～]\s*(\d{1,2})[:：](\d{2})$")
_TYPED_SEPARATORS = re.compile(r"[,，;；、\n]+")


# -- validation ----------------------------------------------------------------------------------
def check_intervals(raw: Sequence[Sequence[str]], *, field: str) -> list[list[str]]:
    """Opening intervals of one day: ``[["09:00", "12:00"], ["13:00", "18:00"]]``, sorted, not overlapping."""
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise InvalidInput("Give the openings of a day as a list of [start, end] times.", field=field)
    if len(raw) > MAX_OPENINGS_PER_DAY:
        raise InvalidInput(
            "At most %(max)s openings per day.", field=field, params={"max": MAX_OPENINGS_PER_DAY}
        )
    intervals = []
    for item in raw:
        if (
            isinstance(item, str)
            or not isinstance(item, Sequence)
            or len(item) != 2
            or not all(isinstance(t, str) and _TIME.match(t) for t in item)
        ):
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
    """Weekly hours keyed "1" (Monday) … "7" (Sunday); closed days are left out."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("Weekdays are numbered 1 (Monday) to 7 (Sunday).", field="weekly_hours")
    hours: dict[str, list[list[str]]] = {}
    for day, intervals in raw.items():
        if day not in WEEKDAYS:
            raise InvalidInput("Weekdays are numbered 1 (Monday) to 7 (Sunday).", field="weekly_hours")
        checked = check_intervals(intervals, field=f"weekly_hours.{day}")
        if checked:
            hours[day] = checked
    return {day: hours[day] for day in WEEKDAYS if day in hours}


def parse_hours_text(text: str, *, field: str) -> list[list[str]]:
    """One day's hours as typed in a form: ``09:00-12:00, 13:00-18:00``; empty means closed."""
    intervals = []
    for part in _TYPED_SEPARATORS.split(text.strip()):
        part = part.strip()
        if not part:
            continue
        match = _TYPED_OPENING.match(part)
        if match is None:
            raise InvalidInput("Write openings like 09:00-12:00, 13:00-18:00.", field=field)
        h1, m1, h2, m2 = match.groups()
        intervals.append([f"{int(h1):02d}:{m1}", f"{int(h2):02d}:{m2}"])
    return check_intervals(intervals, field=field)


def check_day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidInput(
            "Choose a date between %(first)s and %(last)s.",
            field="day",
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value


async def _name_taken(session: AsyncSession, name: str, *, except_id: int | None = None) -> bool:
    stmt = select(Calendar.id).where(func.lower(Calendar.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(Calendar.id != except_id)
    return (await session.scalar(stmt)) is not None


async def _calendar(session: AsyncSession, calendar_id: int) -> Calendar:
    calendar = await session.get(Calendar, calendar_id, options=[selectinload(Calendar.exceptions)])
    if calendar is None:
        raise NotFound("No business hours with this id.")
    return calendar


# -- calendars -----------------------------------------------------------------------------------
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
    timezone = check_timezone(timezone)
    hours = check_weekly_hours(weekly_hours)
    if await _name_taken(session, name):
        raise Conflict("Business hours with this name already exist.", field="name")
    now = utcnow()
    calendar = Calendar(
        name=name,
        timezone=timezone,
        weekly_hours=hours,
        cn_public_holidays=cn_public_holidays,
        created_at=now,
        updated_at=now,
    )
    calendar.exceptions = []
    session.add(calendar)
    await session.flush()
    record_audit(
        session,
        actor,
        "calendar.created",
        target_type="calendar",
        target_id=calendar.id,
        target_label=name,
        timezone=timezone,
        cn_public_holidays=cn_public_holidays,
    )
    record_event(session, CalendarChanged(calendar.id, name, "created"))
    return calendar


async def update_calendar(
    session: AsyncSession,
    actor: Actor,
    calendar_id: int,
    *,
    name: str | None = None,
    timezone: str | None = None,
    weekly_hours: Mapping[str, Sequence[Sequence[str]]] | None = None,
    cn_public_holidays: bool | None = None,
) -> Calendar:
    """Change what is given; ``weekly_hours`` replaces the whole week."""
    calendar = await _calendar(session, calendar_id)
    changed: dict[str, object] = {}
    if name is not None:
        new_name = clean_name(name)
        if new_name != calendar.name:
            if await _name_taken(session, new_name, except_id=calendar.id):
                raise Conflict("Business hours with this name already exist.", field="name")
            calendar.name = new_name
            changed["name"] = new_name
    if timezone is not None and timezone != calendar.timezone:
        calendar.timezone = check_timezone(timezone)
        changed["timezone"] = timezone
    if weekly_hours is not None:
        hours = check_weekly_hours(weekly_hours)
        if hours != calendar.weekly_hours:
            calendar.weekly_hours = hours
            changed["weekly_hours"] = hours
    if cn_public_holidays is not None and cn_public_holidays != calendar.cn_public_holidays:
        calendar.cn_public_holidays = cn_public_holidays
        changed["cn_public_holidays"] = cn_public_holidays
    if not changed:
        return calendar
    calendar.updated_at = utcnow()
    record_audit(
        session,
        actor,
        "calendar.changed",
        target_type="calendar",
        target_id=calendar.id,
        target_label=calendar.name,
        changes=changed,
    )
    record_event(session, CalendarChanged(calendar.id, calendar.name, "changed", tuple(sorted(changed))))
    return calendar


async def delete_calendar(session: AsyncSession, actor: Actor, calendar_id: int) -> None:
    """Delete business hours and their exceptions; whatever used them as default falls back to none."""
    calendar = await _calendar(session, calendar_id)
    name = calendar.name
    await session.delete(calendar)
    await session.flush()
    record_audit(
        session, actor, "calendar.deleted", target_type="calendar", target_id=calendar_id, target_label=name
    )
    record_event(session, CalendarChanged(calendar_id, name, "deleted"))


# -- exceptions ----------------------------------------------------------------------------------
async def add_exception(
    session: AsyncSession,
    actor: Actor,
    calendar_id: int,
    *,
    day: date,
    name: str,
    hours: Sequence[Sequence[str]] = (),
) -> CalendarException:
    """A date that differs from the weekly hours: closed (no ``hours``) or open with its own hours.

    It wins over the weekly hours and over the Chinese public holidays.
    """
    calendar = await _calendar(session, calendar_id)
    day = check_day(day)
    name = clean_name(name)
    intervals = check_intervals(hours, field="hours")
    if any(existing.day == day for existing in calendar.exceptions):
        raise Conflict("This date already has an exception; remove it first.", field="day")
    if len(calendar.exceptions) >= MAX_EXCEPTIONS:
        raise Conflict("These business hours have too many exceptions; remove old ones first.")
    exception = CalendarException(calendar_id=calendar.id, day=day, name=name, hours=intervals)
    calendar.exceptions.append(exception)
    calendar.updated_at = utcnow()
    await session.flush()
    record_audit(
        session,
        actor,
        "calendar.exception_added",
        target_type="calendar",
        target_id=calendar.id,
        target_label=calendar.name,
        day=day.isoformat(),
        name=name,
        hours=intervals,
    )
    record_event(session, CalendarChanged(calendar.id, calendar.name, "exception_added", ("exceptions",)))
    return exception


async def remove_exception(session: AsyncSession, actor: Actor, calendar_id: int, exception_id: int) -> None:
    calendar = await _calendar(session, calendar_id)
    exception = next((e for e in calendar.exceptions if e.id == exception_id), None)
    if exception is None:
        raise NotFound("No such exception.")
    calendar.exceptions.remove(exception)
    calendar.updated_at = utcnow()
    await session.flush()
    record_audit(
        session,
        actor,
        "calendar.exception_removed",
        target_type="calendar",
        target_id=calendar.id,
        target_label=calendar.name,
        day=exception.day.isoformat(),
        name=exception.name,
    )
    record_event(session, CalendarChanged(calendar.id, calendar.name, "exception_removed", ("exceptions",)))
