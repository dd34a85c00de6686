"""JSON API of the calendars feature: /api/v1/calendars, their exceptions, status and days."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from kefu.accounts import Permission, Principal, require
from kefu.calendars import queries, service
from kefu.calendars.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    DayOut,
    ExceptionCreate,
    ExceptionOut,
    StatusOut,
    Weekday,
)
from kefu.platform.api import PathId, problems
from kefu.platform.db import utcnow
from kefu.platform.errors import InvalidInput
from kefu.platform.kernel import KernelDep

router = APIRouter(prefix="/api/v1", tags=["business hours"], responses=problems(401, 403, 422))

ViewCalendars = Annotated[Principal, Depends(require(Permission.calendars_view))]
ManageCalendars = Annotated[Principal, Depends(require(Permission.calendars_manage))]

FIRST_YEAR, LAST_YEAR = 1970, 2199  # moments and dates asked about lie within these years


def _weekly(hours: Mapping[Weekday, list[list[str]]] | None) -> dict[str, list[list[str]]] | None:
    return None if hours is None else {str(day): intervals for day, intervals in hours.items()}


def _moment(value: datetime | None) -> datetime:
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidInput("Choose a moment between 1970 and 2199.", field="at")
    return value.astimezone(UTC)


@router.get("/calendars", response_model=list[CalendarOut], summary="List business hours")
async def list_calendars(kernel: KernelDep, principal: ViewCalendars) -> list[CalendarOut]:
    async with kernel.db.reader() as session:
        return [CalendarOut.of(c) for c in await queries.list_calendars(session)]


@router.post(
    "/calendars",
    response_model=CalendarOut,
    status_code=201,
    responses=problems(409),
    summary="Create business hours",
)
async def create_calendar(kernel: KernelDep, principal: ManageCalendars, body: CalendarCreate) -> CalendarOut:
    async with kernel.db.transaction() as session:
        calendar = await service.create_calendar(
            session,
            principal.actor,
            name=body.name,
            timezone=body.timezone,
            weekly_hours=_weekly(body.weekly_hours) or {},
            cn_public_holidays=body.cn_public_holidays,
        )
        return CalendarOut.of(calendar)


@router.get(
    "/calendars/{calendar_id}", response_model=CalendarOut, responses=problems(404), summary="One calendar"
)
async def get_calendar(kernel: KernelDep, principal: ViewCalendars, calendar_id: PathId) -> CalendarOut:
    async with kernel.db.reader() as session:
        return CalendarOut.of(await queries.get_calendar(session, calendar_id))


@router.patch(
    "/calendars/{calendar_id}",
    response_model=CalendarOut,
    responses=problems(404, 409),
    summary="Change business hours (weekly_hours replaces the whole week)",
)
async def patch_calendar(
    kernel: KernelDep, principal: ManageCalendars, calendar_id: PathId, body: CalendarUpdate
) -> CalendarOut:
    async with kernel.db.transaction() as session:
        calendar = await service.update_calendar(
            session,
            principal.actor,
            calendar_id,
            name=body.name,
            timezone=body.timezone,
            weekly_hours=_weekly(body.weekly_hours),
            cn_public_holidays=body.cn_public_holidays,
        )
        return CalendarOut.of(calendar)


@router.delete(
    "/calendars/{calendar_id}",
    status_code=204,
    responses=problems(404),
    summary="Delete business hours (a workspace default falls back to none)",
)
async def delete_calendar(kernel: KernelDep, principal: ManageCalendars, calendar_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_calendar(session, principal.actor, calendar_id)
    return Response(status_code=204)


@router.post(
    "/calendars/{calendar_id}/exceptions",
    response_model=ExceptionOut,
    status_code=201,
    responses=problems(404, 409),
    summary="Add a closed day or a day with special hours",
)
async def add_exception(
    kernel: KernelDep, principal: ManageCalendars, calendar_id: PathId, body: ExceptionCreate
) -> ExceptionOut:
    async with kernel.db.transaction() as session:
        exception = await service.add_exception(
            session, principal.actor, calendar_id, day=body.day, name=body.name, hours=body.hours
        )
        return ExceptionOut.of(exception)


@router.delete(
    "/calendars/{calendar_id}/exceptions/{exception_id}",
    status_code=204,
    responses=problems(404),
    summary="Remove an exception",
)
async def remove_exception(
    kernel: KernelDep, principal: ManageCalendars, calendar_id: PathId, exception_id: PathId
) -> Response:
    async with kernel.db.transaction() as session:
        await service.remove_exception(session, principal.actor, calendar_id, exception_id)
    return Response(status_code=204)


@router.get(
    "/calendars/{calendar_id}/status",
    response_model=StatusOut,
    responses=problems(404),
    summary="Open or closed at a moment, why, and when that changes next",
)
async def get_status(
    kernel: KernelDep,
    principal: ViewCalendars,
    calendar_id: PathId,
    at: Annotated[
        datetime | None,
        Query(description="ISO 8601 moment (default now); without an offset it is taken as UTC."),
    ] = None,
) -> StatusOut:
    moment = _moment(at)
    async with kernel.db.reader() as session:
        status = await queries.calendar_status(session, calendar_id, moment)
    return StatusOut.of(moment, status)


@router.get(
    "/calendars/{calendar_id}/days",
    response_model=list[DayOut],
    responses=problems(404),
    summary="The hours of coming days, with holidays and make-up workdays",
)
async def get_days(
    kernel: KernelDep,
    principal: ViewCalendars,
    calendar_id: PathId,
    start: Annotated[
        date | None, Query(description="First date (default: today in the calendar's zone).")
    ] = None,
    days: Annotated[int, Query(ge=1, le=queries.MAX_PREVIEW_DAYS)] = queries.PREVIEW_DAYS,
) -> list[DayOut]:
    if start is not None and not FIRST_YEAR <= start.year <= LAST_YEAR:
        raise InvalidInput("Choose a date between 1970 and 2199.", field="start")
    async with kernel.db.reader() as session:
        found = await queries.preview_days(session, calendar_id, days=days, start=start)
    return [DayOut.of(info) for info in found]
