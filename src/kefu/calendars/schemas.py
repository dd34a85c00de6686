"""API shapes of the calendars feature."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from kefu.calendars.hours import REASON_LABELS, CalendarStatus, DayInfo, Reason, format_minutes
from kefu.calendars.models import Calendar, CalendarException
from kefu.platform.api import ApiModel, SafeStr
from kefu.platform.i18n import gettext

Name = Annotated[SafeStr, Field(min_length=1, max_length=100)]
TimeOfDay = Annotated[SafeStr, Field(max_length=5, examples=["09:00", "24:00"])]
Interval = Annotated[
    list[TimeOfDay], Field(min_length=2, max_length=2, description='Start and end: ["09:00", "12:00"].')
]
DayIntervals = Annotated[list[Interval], Field(max_length=12)]
Weekday = Literal["1", "2", "3", "4", "5", "6", "7"]
WeeklyHours = Annotated[
    dict[Weekday, DayIntervals],
    Field(
        description='Opening hours per ISO weekday, "1" = Monday … "7" = Sunday; a missing or empty day '
        'is closed. "24:00" is the end of the day.',
        examples=[{"1": [["09:00", "12:00"], ["13:00", "18:00"]]}],
    ),
]


def _label(reason: Reason, name: str) -> str:
    return name or gettext(REASON_LABELS[reason])


class ExceptionOut(ApiModel):
    id: int
    day: date
    name: str
    hours: list[list[str]] = Field(description="Openings of the day; empty: closed all day.")
    closed: bool

    @classmethod
    def of(cls, exception: CalendarException) -> ExceptionOut:
        return cls(
            id=exception.id,
            day=exception.day,
            name=exception.name,
            hours=exception.hours,
            closed=not exception.hours,
        )


class CalendarOut(ApiModel):
    id: int
    name: str
    timezone: str
    weekly_hours: dict[str, list[list[str]]]
    cn_public_holidays: bool = Field(
        description="Official Chinese public holidays close the calendar; make-up workdays (调休上班) "
        "open it with the hours of the first of Monday … Friday that has hours."
    )
    exceptions: list[ExceptionOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, calendar: Calendar) -> CalendarOut:
        return cls(
            id=calendar.id,
            name=calendar.name,
            timezone=calendar.timezone,
            weekly_hours=calendar.weekly_hours,
            cn_public_holidays=calendar.cn_public_holidays,
            exceptions=[ExceptionOut.of(e) for e in sorted(calendar.exceptions, key=lambda e: e.day)],
            created_at=calendar.created_at,
            updated_at=calendar.updated_at,
        )


class CalendarCreate(ApiModel):
    name: Name
    timezone: Annotated[SafeStr, Field(max_length=64, examples=["Asia/Shanghai"])] = "Asia/Shanghai"
    weekly_hours: WeeklyHours = Field(default_factory=dict)
    cn_public_holidays: bool = False


class CalendarUpdate(ApiModel):
    name: Name | None = None
    timezone: Annotated[SafeStr, Field(max_length=64)] | None = None
    weekly_hours: WeeklyHours | None = Field(None, description="Replaces the whole week.")
    cn_public_holidays: bool | None = None


class ExceptionCreate(ApiModel):
    day: date
    name: Name
    hours: DayIntervals = Field(default_factory=list, description="Openings of the day; empty: closed.")


class StatusOut(ApiModel):
    at: datetime
    open: bool
    reason: Reason
    reason_label: str = Field(description="The holiday or exception name (国庆节, 调休上班 …) or a label.")
    next_change: datetime | None = Field(
        description="When the calendar next opens or closes; null: not within the next 400 days."
    )

    @classmethod
    def of(cls, at: datetime, status: CalendarStatus) -> StatusOut:
        return cls(
            at=at,
            open=status.open,
            reason=status.reason,
            reason_label=_label(status.reason, status.name),
            next_change=status.next_change,
        )


class DayOut(ApiModel):
    day: date
    weekday: int = Field(description="ISO weekday: 1 = Monday … 7 = Sunday.")
    hours: list[list[str]]
    open: bool
    reason: Reason
    reason_label: str

    @classmethod
    def of(cls, info: DayInfo) -> DayOut:
        return cls(
            day=info.day,
            weekday=info.weekday,
            hours=[[format_minutes(o.start), format_minutes(o.end)] for o in info.openings],
            open=info.is_open,
            reason=info.reason,
            reason_label=_label(info.reason, info.name),
        )
