"""Business hours and holiday calendars (SPEC B3, E6): when is the service open?

Public API for other features (routing, SLA clocks): the models, the reads, and the
business-time logic. Read a calendar, turn it into a :class:`CalendarSnapshot` with
:func:`snapshot` (or :func:`get_snapshot`), then ask the snapshot: ``is_open(at)``,
``status(at)``, ``next_open(at)``, ``add_business_time(start, duration)`` (an SLA
deadline), ``business_seconds_between(a, b)``, ``day_hours(local_date)``. Every instant is
a timezone-aware datetime; results are UTC. Subscribe to :class:`CalendarChanged` to drop
cached snapshots.
"""

from kefu.calendars.events import CalendarChanged
from kefu.calendars.hours import CalendarSnapshot, CalendarStatus, DayInfo, Reason
from kefu.calendars.models import Calendar, CalendarException
from kefu.calendars.queries import (
    calendar_status,
    get_calendar,
    get_snapshot,
    list_calendars,
    preview_days,
    snapshot,
)

__all__ = [
    "Calendar",
    "CalendarChanged",
    "CalendarException",
    "CalendarSnapshot",
    "CalendarStatus",
    "DayInfo",
    "Reason",
    "calendar_status",
    "get_calendar",
    "get_snapshot",
    "list_calendars",
    "preview_days",
    "snapshot",
]
