"""Time zones people may choose (workspace, business hours), and the check of a chosen one."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from kefu.platform.errors import InvalidInput

# Offered first: where kefu's users mostly are.
COMMON = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
)


@cache
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def timezone_choices() -> list[str]:
    rest = sorted(tz for tz in _known() if tz not in COMMON and "/" in tz)
    return [*COMMON, *rest]


def check_timezone(value: str, *, field: str = "timezone") -> str:
    if value not in _known():
        raise InvalidInput("Choose a time zone from the list.", field=field)
    return value
