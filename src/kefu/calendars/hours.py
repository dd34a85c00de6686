"""Business time: is a calendar open, when does it open next, when is an SLA due?

Pure logic over :class:`CalendarSnapshot`, a plain copy of a calendar (no database, no
I/O besides the cached holiday tables), so routing and SLA clocks can hold one in memory
and ask it questions cheaply.

Every instant given to or returned by this module is a timezone-aware datetime; results
are in UTC. Opening hours are wall-clock times in the calendar's time zone, so a day
with a DST change is simply shorter or longer: ``09:00–18:00`` is always 09:00 to 18:00
local time, and business time is the real time elapsed inside those openings.

Which hours apply on a date, first match wins:

1. an explicit exception of the calendar (a closed day, or a day with its own hours);
2. with ``cn_public_holidays``: a day of an official Chinese public holiday period is
   closed, named in Chinese (国庆节, 春节 …); the period includes the rest days moved by
   调休 and the weekend days inside or touching it (see :func:`cn_year`);
3. with ``cn_public_holidays``: an official make-up workday (调休上班, usually a Saturday
   or Sunday) is open with the hours of a normal workday, which is taken to be the first
   of Monday … Friday that has hours in the weekly schedule (when none has, the day keeps
   its own weekly hours);
4. the weekly hours of that weekday.

Searches are bounded: a calendar that never opens makes :meth:`CalendarSnapshot.next_open`
return ``None`` after :data:`SEARCH_DAYS` days instead of looping forever.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from kefu.platform.i18n import N_

SEARCH_DAYS = 400  # give up looking for a change after this many days without one
MAX_WALK_DAYS = 3660  # no computation walks more than ~10 years of days
MINUTES_PER_DAY = 24 * 60
CN_FIRST_YEAR = 2000  # the holiday tables are used for these years only
CN_LAST_YEAR = 2199
MAKEUP_WORKDAY_NAME = "调休上班"

_FIRST_DAY = date.min + timedelta(days=1)
_LAST_DAY = date.max - timedelta(days=1)


class Reason(StrEnum):
    """Why a calendar is open or closed at some moment (or on some day)."""

    open = "open"  # the weekly hours
    special_hours = "special_hours"  # an explicit exception with its own hours
    makeup_workday = "makeup_workday"  # 调休上班: an official make-up workday
    after_hours = "after_hours"  # the day has hours, but not at this moment
    weekly_closed = "weekly_closed"  # the weekly hours have none on this weekday
    holiday = "holiday"  # an official Chinese public holiday
    closed_day = "closed_day"  # an explicit exception: closed all day


REASON_LABELS: dict[Reason, str] = {
    Reason.open: N_("Regular hours"),
    Reason.special_hours: N_("Special hours"),
    Reason.makeup_workday: N_("Make-up workday"),
    Reason.after_hours: N_("Outside opening hours"),
    Reason.weekly_closed: N_("Closed all day"),
    Reason.holiday: N_("Public holiday"),
    Reason.closed_day: N_("Closed all day"),
}


class Opening(NamedTuple):
    """One opening of a day, in minutes after local midnight (``end`` may be 1440: 24:00)."""

    start: int
    end: int

    @property
    def text(self) -> str:
        return f"{format_minutes(self.start)}-{format_minutes(self.end)}"


def parse_time(value: str) -> int:
    """``"09:30"`` → 570; ``"24:00"`` → 1440 (the end of the day). Raises ``ValueError``."""
    hours, sep, minutes = value.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"not a time of day: {value!r}")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > MINUTES_PER_DAY:
        raise ValueError(f"not a time of day: {value!r}")
    return total


def format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_openings(openings: Sequence[Opening]) -> str:
    """``09:00-12:00, 13:00-18:00``: how the UI shows (and takes) one day's hours."""
    return ", ".join(opening.text for opening in openings)


def parse_openings(raw: Sequence[Sequence[str]]) -> tuple[Opening, ...]:
    """Stored intervals (``[["09:00", "12:00"], …]``) as sorted openings; empty ones dropped."""
    openings = sorted(Opening(parse_time(start), parse_time(end)) for start, end in raw)
    return tuple(o for o in openings if o.end > o.start)


@dataclass(frozen=True)
class DayInfo:
    """The hours that apply on one local date, and why."""

    day: date
    openings: tuple[Opening, ...]
    reason: Reason
    name: str = ""  # the holiday or exception name: 国庆节, 调休上班, 公司年会 …

    @property
    def weekday(self) -> int:
        """ISO weekday: 1 = Monday … 7 = Sunday."""
        return self.day.isoweekday()

    @property
    def is_open(self) -> bool:
        return bool(self.openings)

    @property
    def reason_label(self) -> str:
        """The name, or else an English msgid from :data:`REASON_LABELS` (translate it to show it)."""
        return self.name or REASON_LABELS[self.reason]

    @property
    def hours_text(self) -> str:
        return format_openings(self.openings)


@dataclass(frozen=True)
class CalendarStatus:
    """Whether a calendar is open at a moment, why, and when that next changes (UTC; ``None``:
    not within :data:`SEARCH_DAYS` days)."""

    open: bool
    reason: Reason
    name: str
    next_change: datetime | None

    @property
    def reason_label(self) -> str:
        """The holiday or exception name, or else an English msgid (translate it to show it)."""
        return self.name or REASON_LABELS[self.reason]


@dataclass(frozen=True)
class DayException:
    """An explicit exception: ``openings`` empty means closed all day."""

    name: str
    openings: tuple[Opening, ...]


# -- Chinese public holidays ----------------------------------------------------------------------
@dataclass(frozen=True)
class CnYear:
    """The official holidays (date → Chinese name) and make-up workdays of one year."""

    holidays: Mapping[date, str]
    workdays: frozenset[date]


_REST_DAY_PREFIX = "休息日"  # how ``holidays`` names a rest day moved by 调休: 休息日（由 … 调休）


@functools.lru_cache(maxsize=64)
def cn_year(year: int) -> CnYear:
    """The official holidays and make-up workdays of ``year``, built once per process.

    ``holidays`` (``China``, in Chinese) lists the named holidays and the moved rest days;
    the official holiday periods also take in the weekends that touch them (国庆节 2026 is
    1–7 October, Sunday the 4th included). So each run of days off (listed holidays, and
    Saturdays and Sundays that are not make-up workdays) that holds a listed holiday is
    closed as a whole; a day without a holiday name of its own (a weekend, a 休息日) takes
    the most frequent holiday name of its run (春节 rather than 农历除夕; the first on a
    tie). Neighbouring years are read too, for runs and make-up workdays that cross New Year.
    """
    if not CN_FIRST_YEAR <= year <= CN_LAST_YEAR:
        return CnYear({}, frozenset())
    import holidays  # ~80 ms to import: paid only when a calendar first needs a holiday table

    table = holidays.country_holidays("CN", years=(year - 1, year, year + 1), language="zh_CN")
    listed = {day: str(name) for day, name in table.items()}
    workdays = frozenset(table.weekend_workdays)

    def off(day: date) -> bool:
        return day in listed or (day.isoweekday() >= 6 and day not in workdays)

    names: dict[date, str] = {}
    for holiday in sorted(listed):
        if holiday in names:
            continue
        first = last = holiday
        while off(first - timedelta(days=1)):
            first -= timedelta(days=1)
        while off(last + timedelta(days=1)):
            last += timedelta(days=1)
        run = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        own = [listed[d] for d in run if d in listed and not listed[d].startswith(_REST_DAY_PREFIX)]
        bases = [name.split("（")[0] for name in own]
        run_name = max(bases, key=bases.count) if bases else listed[holiday]
        for day in run:
            name = listed.get(day, "")
            names[day] = name if name and not name.startswith(_REST_DAY_PREFIX) else run_name
    return CnYear(
        {day: name for day, name in names.items() if day.year == year},
        frozenset(day for day in workdays if day.year == year),
    )


# -- the snapshot ---------------------------------------------------------------------------------
def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("business time needs timezone-aware datetimes")
    return at.astimezone(UTC)


def _shift(day: date, days: int) -> date | None:
    try:
        shifted = day + timedelta(days=days)
    except OverflowError:
        return None
    return shifted if _FIRST_DAY <= shifted <= _LAST_DAY else None


@dataclass(frozen=True)
class CalendarSnapshot:
    """A calendar's rules, detached from the database. Build it with :meth:`build`."""

    timezone: str
    weekly: tuple[tuple[Opening, ...], ...]  # index 0 = Monday … 6 = Sunday
    exceptions: Mapping[date, DayException] = field(default_factory=dict)
    cn_public_holidays: bool = False

    @classmethod
    def build(
        cls,
        *,
        timezone: str,
        weekly_hours: Mapping[str, Sequence[Sequence[str]]],
        exceptions: Mapping[date, tuple[str, Sequence[Sequence[str]]]] | None = None,
        cn_public_holidays: bool = False,
    ) -> CalendarSnapshot:
        """From the stored shapes: ``weekly_hours`` keyed "1" (Monday) … "7" (Sunday);
        ``exceptions`` mapping a date to ``(name, intervals)``, empty intervals meaning closed."""
        ZoneInfo(timezone)  # fail early on an unknown zone
        weekly = tuple(parse_openings(weekly_hours.get(str(day), ())) for day in range(1, 8))
        explicit = {
            day: DayException(name, parse_openings(intervals))
            for day, (name, intervals) in (exceptions or {}).items()
        }
        return cls(timezone, weekly, explicit, cn_public_holidays)

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @functools.cached_property
    def workday_openings(self) -> tuple[Opening, ...] | None:
        """The hours of a normal workday: those of the first of Monday … Friday that has any."""
        for openings in self.weekly[:5]:
            if openings:
                return openings
        return None

    # -- days ----------------------------------------------------------------------------------
    def day_hours(self, day: date) -> DayInfo:
        """The openings on a local date and the reason for them (see the module docstring)."""
        exception = self.exceptions.get(day)
        if exception is not None:
            reason = Reason.special_hours if exception.openings else Reason.closed_day
            return DayInfo(day, exception.openings, reason, exception.name)
        weekly = self.weekly[day.isoweekday() - 1]
        if self.cn_public_holidays:
            table = cn_year(day.year)
            holiday = table.holidays.get(day)
            if holiday is not None:
                return DayInfo(day, (), Reason.holiday, holiday)
            if day in table.workdays and self.workday_openings is not None:
                return DayInfo(day, self.workday_openings, Reason.makeup_workday, MAKEUP_WORKDAY_NAME)
        if weekly:
            return DayInfo(day, weekly, Reason.open)
        return DayInfo(day, (), Reason.weekly_closed)

    def days(self, start: date, count: int) -> list[DayInfo]:
        """``count`` consecutive local dates from ``start`` (a preview for people)."""
        found = []
        for offset in range(max(0, min(count, MAX_WALK_DAYS))):
            day = _shift(start, offset)
            if day is None:
                break
            found.append(self.day_hours(day))
        return found

    def local_date(self, at: datetime) -> date:
        return _aware(at).astimezone(self.zone).date()

    def _instant(self, day: date, minute: int) -> datetime:
        """Local wall-clock ``minute`` of ``day`` as UTC (1440 is the next midnight).

        A wall time skipped by DST resolves with the offset before the change (fold=0), so
        an opening inside the gap shrinks to nothing; a repeated one takes its first occurrence.
        """
        if minute >= MINUTES_PER_DAY:
            day, minute = day + timedelta(days=1), minute - MINUTES_PER_DAY
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def _day_spans(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        for opening in self.day_hours(day).openings:
            start, end = self._instant(day, opening.start), self._instant(day, opening.end)
            if end > start:
                yield start, end

    def _spans(self, at: datetime, max_days: int) -> Iterator[tuple[datetime, datetime, bool]]:
        """Open spans (UTC) ending after ``at``, in order, touching ones merged into one.

        Walks at most ``max_days`` local dates, and stops after :data:`SEARCH_DAYS` dates in a
        row without an opening. The third item is true for a span that reaches the end of
        the walk: it may go on beyond it.
        """
        first = _shift(self.local_date(at), -1)
        if first is None:
            return
        current: tuple[datetime, datetime] | None = None
        idle = 0
        last = first
        for offset in range(max_days + 1):
            day = _shift(first, offset)
            if day is None:
                break
            last = day
            found = False
            for start, end in self._day_spans(day):
                if end <= at:
                    continue
                found = True
                if current is not None and start <= current[1]:
                    current = (current[0], max(current[1], end))
                    continue
                if current is not None:
                    yield current[0], current[1], False
                current = (start, end)
            idle = 0 if found else idle + 1
            if idle > SEARCH_DAYS:
                break
        if current is not None:
            yield current[0], current[1], current[1] >= self._instant(last, MINUTES_PER_DAY)

    # -- questions ---------------------------------------------------------------------------------
    def status(self, at: datetime) -> CalendarStatus:
        """Open or closed at ``at``, why, and when that changes next."""
        at = _aware(at)
        today = self.day_hours(self.local_date(at))
        for start, end, truncated in self._spans(at, SEARCH_DAYS):
            if start <= at:
                reason = today.reason if today.is_open else Reason.open
                return CalendarStatus(True, reason, today.name, None if truncated else end)
            closed_reason = today.reason if not today.is_open else Reason.after_hours
            name = today.name if not today.is_open else ""
            return CalendarStatus(False, closed_reason, name, start)
        reason = today.reason if not today.is_open else Reason.after_hours
        return CalendarStatus(False, reason, today.name if not today.is_open else "", None)

    def is_open(self, at: datetime) -> bool:
        at = _aware(at)
        day = self.local_date(at)
        for offset in (-1, 0):  # an opening never leaves its local day
            shifted = _shift(day, offset)
            if shifted is not None and any(s <= at < e for s, e in self._day_spans(shifted)):
                return True
        return False

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` itself when open, else the next opening; ``None`` if none within the search window."""
        at = _aware(at)
        for start, _end, _ in self._spans(at, SEARCH_DAYS):
            return max(start, at)
        return None

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime | None:
        """The moment ``duration`` of open time after ``start`` (an SLA deadline).

        Zero returns ``start``. ``None`` when the calendar does not open long enough within
        the search window (a calendar without hours, or a duration of many years).
        """
        start = _aware(start)
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        if duration == timedelta(0):
            return start
        remaining = duration
        for span_start, span_end, _ in self._spans(start, MAX_WALK_DAYS):
            begin = max(span_start, start)
            available = span_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        return None

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        """Open time between two instants, in seconds (negative when ``b`` is before ``a``)."""
        a, b = _aware(a), _aware(b)
        if b < a:
            return -self.business_seconds_between(b, a)
        first, last = _shift(self.local_date(a), -1), _shift(self.local_date(b), 1)
        if first is None or last is None:
            return 0.0
        total = timedelta(0)
        day = first
        while day <= last:
            for start, end in self._day_spans(day):
                overlap = min(end, b) - max(start, a)
                if overlap > timedelta(0):
                    total += overlap
            following = _shift(day, 1)
            if following is None:
                break
            day = following
        return total.total_seconds()
