"""Business hours of queues: whether a queue takes contacts now, and what it does when it does not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.calendars import get_snapshot
from kefu.platform.db import utcnow
from kefu.platform.errors import NotFound
from kefu.routing.models import QueueSettings
from kefu.routing.rules import AfterHours


@dataclass(frozen=True)
class QueueHours:
    """A queue's state at one moment. A queue without business hours is always open."""

    queue_id: int | None
    open: bool
    after_hours: AfterHours = AfterHours.offline_message
    after_hours_team_id: int | None = None
    next_open_at: datetime | None = None  # None: open now, or not within the calendar's search window


async def queue_hours(session: AsyncSession, queue_id: int | None, now: datetime | None = None) -> QueueHours:
    if queue_id is None:
        return QueueHours(None, True)
    return (await queues_hours(session, [queue_id], now)).get(queue_id) or QueueHours(queue_id, True)


async def queues_hours(
    session: AsyncSession, queue_ids: Iterable[int], now: datetime | None = None
) -> dict[int, QueueHours]:
    """The hours of each queue that has settings with a calendar (others are open: absent here)."""
    ids = sorted(set(queue_ids))
    if not ids:
        return {}
    at = now or utcnow()
    rows = (
        await session.scalars(
            select(QueueSettings).where(
                QueueSettings.team_id.in_(ids), QueueSettings.calendar_id.is_not(None)
            )
        )
    ).all()
    found: dict[int, QueueHours] = {}
    for row in rows:
        assert row.calendar_id is not None  # filtered above
        try:
            calendar = await get_snapshot(session, row.calendar_id)
        except NotFound:
            continue
        is_open = calendar.is_open(at)
        found[row.team_id] = QueueHours(
            row.team_id,
            is_open,
            AfterHours(row.after_hours),
            row.after_hours_team_id,
            None if is_open else calendar.next_open(at),
        )
    return found
