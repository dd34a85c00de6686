"""Business-time logic: weekly hours, Chinese public holidays, make-up workdays, exceptions, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu.calendars import CalendarSnapshot, Reason
from kefu.calendars.hours import SEARCH_DAYS, cn_year, parse_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
WORKDAY = [["09:00", "12:00"], ["13:00", "18:00"]]


def office(
    *, cn: bool = True, exceptions: dict[date, tuple[str, list[list[str]]]] | None = None
) -> CalendarSnapshot:
    return CalendarSnapshot.build(
        timezone="Asia/Shanghai",
        weekly_hours={str(day): WORKDAY for day in range(1, 6)},
        exceptions=exceptions,
        cn_public_holidays=cn,
    )


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_national_day_week_is_closed_and_named_in_chinese() -> None:
    calendar = office()
    for day in range(1, 8):
        info = calendar.day_hours(date(2026, 10, day))
        assert not info.is_open, day
        assert info.reason is Reason.holiday
        assert info.name.startswith("国庆节"), (day, info.name)
        assert not calendar.is_open(sh(2026, 10, day, 10))
    status = calendar.status(sh(2026, 10, 1, 10))
    assert not status.open
    assert status.reason is Reason.holiday
    assert status.name == "国庆节"
    assert status.reason_label == "国庆节"
    assert status.next_change == sh(2026, 10, 8, 9)
    assert calendar.next_open(sh(2026, 10, 1, 10)) == sh(2026, 10, 8, 9)


def test_without_the_flag_holidays_are_ordinary_days() -> None:
    calendar = office(cn=False)
    assert calendar.is_open(sh(2026, 10, 1, 10))
    assert not calendar.is_open(sh(2026, 10, 10, 10))  # a Saturday


@pytest.mark.parametrize("day", [date(2026, 10, 10), date(2026, 2, 14)])
def test_a_make_up_saturday_is_open_with_workday_hours(day: date) -> None:
    calendar = office()
    assert day.isoweekday() == 6
    info = calendar.day_hours(day)
    assert info.reason is Reason.makeup_workday
    assert info.name == "调休上班"
    assert info.hours_text == "09:00-12:00, 13:00-18:00"
    status = calendar.status(datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI))
    assert status.open
    assert status.reason is Reason.makeup_workday
    assert status.next_change == datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)


def test_make_up_days_take_the_hours_of_the_first_weekday_with_hours() -> None:
    calendar = CalendarSnapshot.build(
        timezone="Asia/Shanghai",
        weekly_hours={"2": [["10:00", "16:00"]], "3": WORKDAY},
        cn_public_holidays=True,
    )
    assert calendar.day_hours(date(2026, 10, 10)).hours_text == "10:00-16:00"


def test_lunch_break_and_weekend_are_closed() -> None:
    calendar = office()
    assert calendar.is_open(sh(2026, 10, 9, 11, 59))
    lunch = calendar.status(sh(2026, 10, 9, 12, 30))
    assert not lunch.open
    assert lunch.reason is Reason.after_hours
    assert lunch.next_change == sh(2026, 10, 9, 13)
    assert not calendar.is_open(sh(2026, 10, 9, 12))  # the end of an opening is closed
    assert calendar.is_open(sh(2026, 10, 9, 13))
    weekend = calendar.status(sh(2026, 10, 11, 10))  # a Sunday, not a make-up day
    assert not weekend.open
    assert weekend.reason is Reason.weekly_closed
    assert weekend.next_change == sh(2026, 10, 12, 9)


def test_an_explicit_exception_wins_over_a_public_holiday() -> None:
    calendar = office(
        exceptions={
            date(2026, 10, 2): ("国庆值班", [["10:00", "16:00"]]),
            date(2026, 10, 9): ("公司年会", []),
        }
    )
    status = calendar.status(sh(2026, 10, 2, 11))
    assert status.open
    assert status.reason is Reason.special_hours
    assert status.name == "国庆值班"
    assert status.next_change == sh(2026, 10, 2, 16)
    assert not calendar.is_open(sh(2026, 10, 2, 9, 30))
    closed = calendar.status(sh(2026, 10, 9, 10))
    assert not closed.open
    assert closed.reason is Reason.closed_day
    assert closed.name == "公司年会"
    assert closed.next_change == sh(2026, 10, 10, 9)  # the make-up Saturday


def test_add_business_time_skips_the_weekend() -> None:
    calendar = office(cn=False)
    # Friday 17:00 + 2 business hours: 1 hour on Friday, 1 hour on Monday morning.
    due = calendar.add_business_time(sh(2026, 3, 13, 17), timedelta(hours=2))
    assert due == sh(2026, 3, 16, 10)
    assert due is not None
    assert due.tzinfo == UTC
    # Started on a Saturday, the clock starts on Monday at 09:00; the lunch break does not count.
    assert calendar.add_business_time(sh(2026, 3, 14, 8), timedelta(hours=4)) == sh(2026, 3, 16, 14)
    assert calendar.business_seconds_between(sh(2026, 3, 13, 17), sh(2026, 3, 16, 10)) == 2 * 3600


def test_add_business_time_skips_a_public_holiday() -> None:
    calendar = office()
    # Wednesday 30 September 17:00 + 2 hours: 1 hour that day, then nothing until Thursday 8 October.
    assert calendar.add_business_time(sh(2026, 9, 30, 17), timedelta(hours=2)) == sh(2026, 10, 8, 10)
    assert calendar.business_seconds_between(sh(2026, 9, 30, 17), sh(2026, 10, 8, 10)) == 2 * 3600
    assert calendar.business_seconds_between(sh(2026, 10, 8, 10), sh(2026, 9, 30, 17)) == -2 * 3600
    assert calendar.add_business_time(sh(2026, 10, 3, 12), timedelta(0)) == sh(2026, 10, 3, 12)


def test_a_calendar_without_hours_never_opens_and_never_hangs() -> None:
    never = CalendarSnapshot.build(timezone="UTC", weekly_hours={})
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert never.next_open(at) is None
    assert never.add_business_time(at, timedelta(minutes=1)) is None
    status = never.status(at)
    assert not status.open
    assert status.next_change is None
    assert never.business_seconds_between(at, at + timedelta(days=30)) == 0


def test_an_always_open_calendar_has_no_next_change_and_24_00_ends_the_day() -> None:
    always = CalendarSnapshot.build(
        timezone="Asia/Shanghai", weekly_hours={str(d): [["00:00", "24:00"]] for d in range(1, 8)}
    )
    status = always.status(sh(2026, 5, 5, 23, 59))
    assert status.open
    assert status.next_change is None  # midnight joins one day to the next
    assert always.add_business_time(sh(2026, 5, 5, 23), timedelta(hours=3)) == sh(2026, 5, 6, 2)
    with_holidays = CalendarSnapshot.build(
        timezone="Asia/Shanghai",
        weekly_hours={str(d): [["00:00", "24:00"]] for d in range(1, 8)},
        cn_public_holidays=True,
    )
    assert with_holidays.status(sh(2026, 9, 28, 12)).next_change == sh(2026, 10, 1, 0)


def test_openings_are_wall_clock_hours_across_dst_in_berlin() -> None:
    calendar = CalendarSnapshot.build(
        timezone="Europe/Berlin", weekly_hours={str(d): [["09:00", "17:00"]] for d in range(1, 8)}
    )
    before = datetime(2026, 3, 28, 9, tzinfo=BERLIN)  # Saturday, CET (UTC+1)
    after = datetime(2026, 3, 29, 9, tzinfo=BERLIN)  # Sunday, CEST (UTC+2)
    assert before.astimezone(UTC).hour == 8
    assert after.astimezone(UTC).hour == 7
    assert calendar.next_open(datetime(2026, 3, 28, 20, tzinfo=UTC)) == after
    assert calendar.is_open(datetime(2026, 3, 29, 7, 30, tzinfo=UTC))
    assert not calendar.is_open(datetime(2026, 3, 29, 6, 30, tzinfo=UTC))
    # 8 business hours from Saturday 13:00 local: 4 on Saturday, 4 on Sunday (after the change).
    due = calendar.add_business_time(datetime(2026, 3, 28, 13, tzinfo=BERLIN), timedelta(hours=8))
    assert due == datetime(2026, 3, 29, 13, tzinfo=BERLIN)
    # A full day in the night of the change lasts 23 real hours.
    nights = CalendarSnapshot.build(timezone="Europe/Berlin", weekly_hours={"7": [["00:00", "24:00"]]})
    sunday = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert nights.business_seconds_between(sunday, sunday + timedelta(days=2)) == 23 * 3600
    autumn = datetime(2026, 10, 25, tzinfo=BERLIN)
    assert nights.business_seconds_between(autumn, autumn + timedelta(days=2)) == 25 * 3600


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        office().is_open(datetime(2026, 10, 1, 10))


def test_holiday_tables_are_cached_and_cover_the_whole_festival() -> None:
    assert cn_year(2026) is cn_year(2026)
    spring = cn_year(2026)
    assert spring.holidays[date(2026, 2, 16)] == "农历除夕"
    assert spring.holidays[date(2026, 2, 21)] == "春节"  # a Saturday inside the festival
    assert date(2026, 2, 28) in spring.workdays
    assert cn_year(1800).holidays == {}


def test_days_preview_and_times() -> None:
    days = office().days(date(2026, 9, 30), 12)
    assert [d.day for d in days][:2] == [date(2026, 9, 30), date(2026, 10, 1)]
    assert days[0].is_open
    assert days[0].reason is Reason.open
    assert days[1].reason_label == "国庆节"
    assert days[10].reason is Reason.makeup_workday
    assert days[11].reason_label == "Closed all day"
    assert parse_time("24:00") == 1440
    with pytest.raises(ValueError, match="time of day"):
        parse_time("24:30")
    assert SEARCH_DAYS >= 366
