"""HTML pages of the admin feature: start page, admin overview, settings, audit log, jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kefu.accounts import CurrentPrincipal, Permission, Principal, count_users_by_role, get_user, require
from kefu.admin import queries, service
from kefu.calendars import list_calendars
from kefu.platform import jobs as kernel_jobs
from kefu.platform.api import MAX_ID
from kefu.platform.audit import AuditFilter, audit_actions, list_audit_entries
from kefu.platform.errors import InvalidInput, NotFound
from kefu.platform.jobs import JobStatus
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.timezones import timezone_choices
from kefu.platform.web import Form, field_errors

router = APIRouter(include_in_schema=False)

ManageSettings = Annotated[Principal, Depends(require(Permission.settings_manage))]
ViewAudit = Annotated[Principal, Depends(require(Permission.audit_view))]
ManageJobs = Annotated[Principal, Depends(require(Permission.jobs_manage))]


@router.get("/")
async def home(request: Request, kernel: KernelDep, principal: CurrentPrincipal) -> Response:
    async with kernel.db.reader() as session:
        user = await get_user(session, principal.user_id)
        counts = await count_users_by_role(session) if principal.can(Permission.users_view) else None
        job_counts = (
            await kernel_jobs.count_jobs_by_status(session) if principal.can(Permission.jobs_manage) else None
        )
    context = {"user": user, "role_counts": counts, "job_counts": job_counts}
    return await kernel.templates.render(request, "admin/home.html", context)


@router.get("/admin")
async def admin_overview(request: Request, kernel: KernelDep, principal: CurrentPrincipal) -> Response:
    async with kernel.db.reader() as session:
        recent = (
            await list_audit_entries(session, AuditFilter(), limit=8)
            if principal.can(Permission.audit_view)
            else []
        )
        job_counts = (
            await kernel_jobs.count_jobs_by_status(session) if principal.can(Permission.jobs_manage) else None
        )
    return await kernel.templates.render(
        request,
        "admin/overview.html",
        {"recent": recent, "job_counts": job_counts, "status_labels": kernel_jobs.STATUS_LABELS},
    )


async def _settings_page(
    request: Request,
    kernel: Kernel,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        current = await queries.get_workspace_settings(session)
        calendars = await list_calendars(session)
    if values is None:
        values = {
            "name": current.name,
            "timezone": current.timezone,
            "default_calendar_id": current.default_calendar_id or "",
        }
    context = {
        "values": values,
        "errors": errors or {},
        "timezone_options": [(tz, tz) for tz in timezone_choices()],
        "calendar_options": [(c.id, c.name) for c in calendars],
    }
    return await kernel.templates.render(request, "admin/settings.html", context, status_code=status)


@router.get("/admin/settings")
async def settings_page(request: Request, kernel: KernelDep, principal: ManageSettings) -> Response:
    return await _settings_page(request, kernel)


@router.post("/admin/settings")
async def settings_submit(request: Request, kernel: KernelDep, principal: ManageSettings) -> Response:
    form = await Form.read(request)
    name = form.text("name", max_length=200)
    timezone = form.text("timezone", max_length=64)
    calendar_id = form.integer("default_calendar_id")
    values = {"name": name, "timezone": timezone, "default_calendar_id": calendar_id or ""}
    try:
        async with kernel.db.transaction() as session:
            await service.update_workspace_settings(
                session,
                principal.actor,
                name=name,
                timezone=timezone,
                default_calendar_id=calendar_id,
                clear_default_calendar=calendar_id is None,
            )
    except InvalidInput as exc:
        return await _settings_page(request, kernel, values=values, errors=field_errors(exc), status=422)
    return kernel.templates.redirect("/admin/settings", message="The settings were saved.")


def _parse_day(value: str | None, tz: Any) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value[:10], "%Y-%m-%d")  # made aware on the next line
    except ValueError:
        raise InvalidInput("Enter dates as YYYY-MM-DD.") from None
    return day.replace(tzinfo=tz).astimezone(UTC)


@router.get("/admin/audit")
async def audit_page(request: Request, kernel: KernelDep, principal: ViewAudit) -> Response:
    params = request.query_params
    async with kernel.db.reader() as session:
        workspace = await queries.get_workspace_settings(session)
        until = _parse_day(params.get("until"), workspace.tz)
        actor = params.get("actor_id", "")
        before = params.get("before", "")
        filters = AuditFilter(
            action=(params.get("action") or "")[:64] or None,
            actor_id=int(actor) if actor.isdigit() and int(actor) <= MAX_ID else None,
            target_type=(params.get("target_type") or "")[:32] or None,
            target_id=(params.get("target_id") or "")[:64] or None,
            text=(params.get("q") or "")[:100] or None,
            since=_parse_day(params.get("since"), workspace.tz),
            until=until + timedelta(days=1) if until else None,
        )
        entries = await list_audit_entries(
            session,
            filters,
            limit=50,
            before_id=int(before) if before.isdigit() and int(before) <= MAX_ID else None,
        )
        actions = await audit_actions(session)
    query = {k: v for k, v in params.items() if k != "before"}
    context = {
        "entries": entries,
        "actions": actions,
        "params": params,
        "query": query,
        "older": entries[-1].id if len(entries) == 50 else None,
    }
    return await kernel.templates.render(request, "admin/audit.html", context)


@router.get("/admin/jobs")
async def jobs_page(request: Request, kernel: KernelDep, principal: ManageJobs) -> Response:
    raw = request.query_params.get("status", "dead")
    status = JobStatus(raw) if raw in JobStatus._value2member_map_ else None
    async with kernel.db.reader() as session:
        counts = await kernel_jobs.count_jobs_by_status(session)
        found = await kernel_jobs.list_jobs(session, status=status, limit=100)
    return await kernel.templates.render(
        request,
        "admin/jobs.html",
        {
            "counts": counts,
            "jobs": found,
            "status": raw,
            "statuses": list(JobStatus),
            "status_labels": kernel_jobs.STATUS_LABELS,
        },
    )


def _job_id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("No job with this id.")
    return value


@router.post("/admin/jobs/{job_id}/retry")
async def job_retry(request: Request, kernel: KernelDep, principal: ManageJobs, job_id: int) -> Response:
    async with kernel.db.transaction() as session:
        await service.retry_job(session, principal.actor, _job_id(job_id))
    return kernel.templates.redirect("/admin/jobs", message="The job will run again.")


@router.post("/admin/jobs/{job_id}/discard")
async def job_discard(request: Request, kernel: KernelDep, principal: ManageJobs, job_id: int) -> Response:
    async with kernel.db.transaction() as session:
        await service.discard_job(session, principal.actor, _job_id(job_id))
    return kernel.templates.redirect("/admin/jobs", message="The job was discarded.")
