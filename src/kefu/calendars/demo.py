"""The calendars part of the demo workspace."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.calendars import service
from kefu.platform.audit import Actor

WORKDAY = [["09:00", "12:00"], ["13:00", "18:00"]]


@dataclass(frozen=True)
class DemoCalendars:
    default_id: int
    always_open_id: int


async def seed(session: AsyncSession, actor: Actor) -> DemoCalendars:
    office = await service.create_calendar(
        session,
        actor,
        name="工作日 9:00–18:00（含法定节假日）",
        timezone="Asia/Shanghai",
        weekly_hours={str(day): WORKDAY for day in range(1, 6)},
        cn_public_holidays=True,
    )
    always = await service.create_calendar(
        session,
        actor,
        name="7×24 全天候",
        timezone="Asia/Shanghai",
        weekly_hours={str(day): [["00:00", "24:00"]] for day in range(1, 8)},
    )
    return DemoCalendars(office.id, always.id)
