"""Business hours and holiday calendars (SPEC B3, E6): when is the service open?

Public API for other features: the models, and the reads below.
"""

from kefu.calendars.models import Calendar, CalendarException
from kefu.calendars.queries import get_calendar, list_calendars

__all__ = ["Calendar", "CalendarException", "get_calendar", "list_calendars"]
