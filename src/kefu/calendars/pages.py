"""HTML pages of the calendars feature: business hours, their exceptions and a preview of coming days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import Permission, Principal, require
from kefu.calendars import queries, service
from kefu.calendars.hours import REASON_LABELS, CalendarStatus, Reason, format_openings, parse_openings
from kefu.calendars.models import Calendar
from kefu.platform.api import MAX_ID
from kefu.platform.db import utcnow
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.i18n import N_, gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.timezones import timezone_choices
from kefu.platform.web import Form, field_errors

router = APIRouter(include_in_schema=False)

FORM_ERRORS = (InvalidInput, Conflict)
DEFAULT_TIMEZONE = "Asia/Shanghai"
NEW_CALENDAR_HOURS = "09:00-12:00, 13:00-18:00"

ViewCalendars = Annotated[Principal, Depends(require(Permission.calendars_view))]
ManageCalendars = Annotated[Principal, Depends(require(Permission.calendars_manage))]

WEEKDAY_LABELS: dict[int, str] = {
    1: N_("Monday"),
    2: N_("Tuesday"),
    3: N_("Wednesday"),
    4: N_("Thursday"),
    5: N_("Friday"),
    6: N_("Saturday"),
    7: N_("Sunday"),
}
# The service reports these fields by their API names; the exception form names them apart
# from the calendar form on the same page.
EXCEPTION_FIELDS = {"day": "day", "name": "exception_name", "hours": "exception_hours"}


def _id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("No such item.")
    return value


def reason_label(reason: Reason, name: str) -> str:
    return name or gettext(REASON_LABELS[reason])


def local_time(value: datetime | None, timezone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class CalendarValues:
    """What the calendar form shows: the stored calendar, or what was just submitted."""

    name: str
    timezone: str
    hours: dict[str, str]  # "1" (Monday) … "7" (Sunday) → "09:00-12:00, 13:00-18:00"
    cn_public_holidays: bool

    @classmethod
    def of(cls, form: Form) -> CalendarValues:
        return cls(
            name=form.text("name", max_length=200),
            timezone=form.text("timezone", max_length=64),
            hours={day: form.text(f"hours_{day}", max_length=500) for day in service.WEEKDAYS},
            cn_public_holidays=form.flag("cn_public_holidays"),
        )

    @classmethod
    def of_calendar(cls, calendar: Calendar | None) -> CalendarValues:
        if calendar is None:
            workdays = {day: NEW_CALENDAR_HOURS if int(day) <= 5 else "" for day in service.WEEKDAYS}
            return cls("", DEFAULT_TIMEZONE, workdays, True)
        hours = {
            day: format_openings(parse_openings(calendar.weekly_hours.get(day, [])))
            for day in service.WEEKDAYS
        }
        return cls(calendar.name, calendar.timezone, hours, calendar.cn_public_holidays)

    def weekly_hours(self) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
        """The typed hours parsed, and the errors of the days that could not be."""
        weekly: dict[str, list[list[str]]] = {}
        errors: dict[str, str] = {}
        for day, text in self.hours.items():
            try:
                weekly[day] = service.parse_hours_text(text, field=f"hours_{day}")
            except InvalidInput as exc:
                errors.update(field_errors(exc))
        return weekly, errors


@dataclass(frozen=True)
class ExceptionValues:
    day: str
    name: str
    kind: str  # closed | hours
    hours: str

    @classmethod
    def of(cls, form: Form) -> ExceptionValues:
        kind = form.text("kind")
        return cls(
            day=form.text("day", max_length=20),
            name=form.text("exception_name", max_length=200),
            kind=kind if kind in {"closed", "hours"} else "closed",
            hours=form.text("exception_hours", max_length=500),
        )

    def parsed(self) -> tuple[date, list[list[str]]]:
        try:
            day = date.fromisoformat(self.day.strip())
        except ValueError:
            raise InvalidInput("Enter the date as YYYY-MM-DD.", field="day") from None
        if self.kind == "closed":
            return day, []
        hours = service.parse_hours_text(self.hours, field="hours")
        if not hours:
            raise InvalidInput("Enter the special hours, or choose closed.", field="hours")
        return day, hours


EMPTY_EXCEPTION = ExceptionValues("", "", "closed", "")


@dataclass(frozen=True)
class CalendarRow:
    calendar: Calendar
    status: CalendarStatus
    next_change: str


def _row(calendar: Calendar, now: datetime) -> CalendarRow:
    status = queries.snapshot(calendar).status(now)
    return CalendarRow(calendar, status, local_time(status.next_change, calendar.timezone))


def _exception_errors(exc: InvalidInput | Conflict) -> dict[str, str]:
    return {EXCEPTION_FIELDS.get(key, key): message for key, message in field_errors(exc).items()}


# -- list ----------------------------------------------------------------------------------------
@router.get("/admin/calendars")
async def calendars_page(request: Request, kernel: KernelDep, principal: ViewCalendars) -> Response:
    async with kernel.db.reader() as session:
        calendars = await queries.list_calendars(session)
    now = utcnow()
    context = {
        "rows": [_row(c, now) for c in calendars],
        "can_manage": principal.can(Permission.calendars_manage),
        "reason_label": reason_label,
    }
    return await kernel.templates.render(request, "calendars/calendars.html", context)


# -- one calendar --------------------------------------------------------------------------------
async def _calendar_page(
    request: Request,
    kernel: Kernel,
    principal: Principal,
    *,
    calendar: Calendar | None = None,
    values: CalendarValues | None = None,
    errors: dict[str, str] | None = None,
    exception_values: ExceptionValues = EMPTY_EXCEPTION,
    exception_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = values or CalendarValues.of_calendar(calendar)
    zones = timezone_choices()
    if values.timezone and values.timezone not in zones and calendar is not None:
        zones = [calendar.timezone, *zones]  # a zone set through the API stays selectable
    context: dict[str, Any] = {
        "calendar": calendar,
        "values": values,
        "errors": errors or {},
        "exception_values": exception_values,
        "exception_errors": exception_errors or {},
        "can_manage": principal.can(Permission.calendars_manage),
        "timezone_options": [(tz, tz) for tz in zones],
        "weekdays": [(day, WEEKDAY_LABELS[int(day)]) for day in service.WEEKDAYS],
        "weekday_labels": WEEKDAY_LABELS,
        "reason_label": reason_label,
        "row": None,
        "preview": [],
    }
    if calendar is not None:
        context["row"] = _row(calendar, utcnow())
        context["preview"] = queries.preview(calendar)
    return await kernel.templates.render(request, "calendars/calendar.html", context, status_code=status)


async def _reload(kernel: Kernel, calendar_id: int) -> Calendar:
    async with kernel.db.reader() as session:
        return await queries.get_calendar(session, calendar_id)


@router.get("/admin/calendars/new")
async def calendar_new(request: Request, kernel: KernelDep, principal: ManageCalendars) -> Response:
    return await _calendar_page(request, kernel, principal)


@router.post("/admin/calendars")
async def calendar_create(request: Request, kernel: KernelDep, principal: ManageCalendars) -> Response:
    values = CalendarValues.of(await Form.read(request))
    weekly, errors = values.weekly_hours()
    if errors:
        return await _calendar_page(request, kernel, principal, values=values, errors=errors, status=422)
    try:
        async with kernel.db.transaction() as session:
            calendar = await service.create_calendar(
                session,
                principal.actor,
                name=values.name,
                timezone=values.timezone,
                weekly_hours=weekly,
                cn_public_holidays=values.cn_public_holidays,
            )
    except FORM_ERRORS as exc:
        return await _calendar_page(
            request, kernel, principal, values=values, errors=field_errors(exc), status=422
        )
    return kernel.templates.redirect(
        f"/admin/calendars/{calendar.id}",
        message="The business hours %(name)s were created.",
        name=calendar.name,
    )


@router.get("/admin/calendars/{calendar_id}")
async def calendar_page(
    request: Request, kernel: KernelDep, principal: ViewCalendars, calendar_id: int
) -> Response:
    calendar = await _reload(kernel, _id(calendar_id))
    return await _calendar_page(request, kernel, principal, calendar=calendar)


@router.post("/admin/calendars/{calendar_id}")
async def calendar_update(
    request: Request, kernel: KernelDep, principal: ManageCalendars, calendar_id: int
) -> Response:
    calendar_id = _id(calendar_id)
    values = CalendarValues.of(await Form.read(request))
    weekly, errors = values.weekly_hours()
    if errors:
        calendar = await _reload(kernel, calendar_id)
        return await _calendar_page(
            request, kernel, principal, calendar=calendar, values=values, errors=errors, status=422
        )
    try:
        async with kernel.db.transaction() as session:
            await service.update_calendar(
                session,
                principal.actor,
                calendar_id,
                name=values.name,
                timezone=values.timezone,
                weekly_hours=weekly,
                cn_public_holidays=values.cn_public_holidays,
            )
    except FORM_ERRORS as exc:
        calendar = await _reload(kernel, calendar_id)
        return await _calendar_page(
            request,
            kernel,
            principal,
            calendar=calendar,
            values=values,
            errors=field_errors(exc),
            status=422,
        )
    return kernel.templates.redirect(f"/admin/calendars/{calendar_id}", message="Saved.")


@router.post("/admin/calendars/{calendar_id}/delete")
async def calendar_delete(
    request: Request, kernel: KernelDep, principal: ManageCalendars, calendar_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_calendar(session, principal.actor, _id(calendar_id))
    return kernel.templates.redirect("/admin/calendars", message="The business hours were deleted.")


@router.post("/admin/calendars/{calendar_id}/exceptions")
async def exception_add(
    request: Request, kernel: KernelDep, principal: ManageCalendars, calendar_id: int
) -> Response:
    calendar_id = _id(calendar_id)
    values = ExceptionValues.of(await Form.read(request))
    try:
        day, hours = values.parsed()
        async with kernel.db.transaction() as session:
            await service.add_exception(
                session, principal.actor, calendar_id, day=day, name=values.name, hours=hours
            )
    except FORM_ERRORS as exc:
        calendar = await _reload(kernel, calendar_id)
        return await _calendar_page(
            request,
            kernel,
            principal,
            calendar=calendar,
            exception_values=values,
            exception_errors=_exception_errors(exc),
            status=422,
        )
    return kernel.templates.redirect(f"/admin/calendars/{calendar_id}", message="The exception was added.")


@router.post("/admin/calendars/{calendar_id}/exceptions/{exception_id}/delete")
async def exception_remove(
    request: Request, kernel: KernelDep, principal: ManageCalendars, calendar_id: int, exception_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        await service.remove_exception(session, principal.actor, _id(calendar_id), _id(exception_id))
    return kernel.templates.redirect(f"/admin/calendars/{calendar_id}", message="The exception was removed.")
