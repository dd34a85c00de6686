"""Writes of the admin feature: workspace settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.admin.events import WorkspaceSettingsChanged
from kefu.admin.models import SINGLETON_ID, WorkspaceSettings
from kefu.calendars import get_calendar
from kefu.platform.audit import Actor, record_audit
from kefu.platform.db import utcnow
from kefu.platform.errors import InvalidInput, NotFound
from kefu.platform.events import record_event
from kefu.platform.jobs import Job, discard_dead_job, get_job, retry_dead_job
from kefu.platform.timezones import check_timezone
from kefu.platform.validation import clean_name

DEFAULT_NAME = "kefu"
DEFAULT_TIMEZONE = "Asia/Shanghai"


async def ensure_workspace_settings(session: AsyncSession) -> WorkspaceSettings:
    row = await session.get(WorkspaceSettings, SINGLETON_ID)
    if row is None:
        row = WorkspaceSettings(
            id=SINGLETON_ID, name=DEFAULT_NAME, timezone=DEFAULT_TIMEZONE, updated_at=utcnow()
        )
        session.add(row)
        await session.flush()
    return row


async def update_workspace_settings(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str | None = None,
    timezone: str | None = None,
    default_calendar_id: int | None = None,
    clear_default_calendar: bool = False,
) -> WorkspaceSettings:
    row = await ensure_workspace_settings(session)
    changed: dict[str, object] = {}
    if name is not None:
        new_name = clean_name(name)
        if new_name != row.name:
            row.name = new_name
            changed["name"] = new_name
    if timezone is not None and timezone != row.timezone:
        row.timezone = check_timezone(timezone)
        changed["timezone"] = timezone
    if clear_default_calendar and row.default_calendar_id is not None:
        row.default_calendar_id = None
        changed["default_calendar_id"] = None
    elif default_calendar_id is not None and default_calendar_id != row.default_calendar_id:
        try:
            await get_calendar(session, default_calendar_id)
        except NotFound:
            raise InvalidInput("Choose business hours from the list.", field="default_calendar_id") from None
        row.default_calendar_id = default_calendar_id
        changed["default_calendar_id"] = default_calendar_id
    if changed:
        row.updated_at = utcnow()
        record_audit(
            session,
            actor,
            "settings.changed",
            target_type="workspace",
            target_id=SINGLETON_ID,
            target_label=row.name,
            changes=changed,
        )
        record_event(session, WorkspaceSettingsChanged(tuple(sorted(changed))))
    return row


async def retry_job(session: AsyncSession, actor: Actor, job_id: int) -> Job:
    found = await retry_dead_job(session, job_id)
    record_audit(session, actor, "job.retried", target_type="job", target_id=job_id, target_label=found.name)
    return found


async def discard_job(session: AsyncSession, actor: Actor, job_id: int) -> None:
    found = await get_job(session, job_id)
    name = found.name
    await discard_dead_job(session, job_id)
    record_audit(session, actor, "job.discarded", target_type="job", target_id=job_id, target_label=name)
