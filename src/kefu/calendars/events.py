"""Events of the calendars feature (past tense, published after commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from kefu.platform.events import Event


@dataclass(frozen=True)
class CalendarChanged(Event):
    """Business hours were created, changed or deleted, or one of their exceptions was.

    ``action`` is one of ``created``, ``changed``, ``deleted``, ``exception_added``,
    ``exception_removed``; whoever caches a calendar's hours (routing, SLA clocks) reloads it.
    """

    name: ClassVar[str] = "calendar.changed"
    calendar_id: int
    calendar_name: str
    action: str
    changed: tuple[str, ...] = ()

    def topics(self) -> Sequence[str]:
        return ("calendars",)
