"""Reads of the admin feature."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.admin.models import SINGLETON_ID, WorkspaceSettings
from kefu.admin.service import DEFAULT_NAME, DEFAULT_TIMEZONE


@dataclass(frozen=True)
class WorkspaceView:
    name: str
    timezone: str
    default_calendar_id: int | None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


async def get_workspace_settings(session: AsyncSession) -> WorkspaceView:
    row = await session.get(WorkspaceSettings, SINGLETON_ID)
    if row is None:
        return WorkspaceView(DEFAULT_NAME, DEFAULT_TIMEZONE, None)
    return WorkspaceView(row.name, row.timezone, row.default_calendar_id)
