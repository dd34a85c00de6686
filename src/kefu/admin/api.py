"""JSON API of the admin feature: workspace settings, audit log, background jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from kefu.accounts import CurrentPrincipal, Permission, Principal, require
from kefu.admin import queries, service
from kefu.platform import jobs as kernel_jobs
from kefu.platform.api import MAX_ID, ApiModel, BodyId, Limit, Page, PathId, SafeStr, page_of, problems
from kefu.platform.audit import AuditEntry, AuditFilter, list_audit_entries
from kefu.platform.jobs import Job, JobStatus
from kefu.platform.kernel import KernelDep

router = APIRouter(prefix="/api/v1", tags=["administration"], responses=problems(401, 403, 422))

ManageSettings = Annotated[Principal, Depends(require(Permission.settings_manage))]
ViewAudit = Annotated[Principal, Depends(require(Permission.audit_view))]
ManageJobs = Annotated[Principal, Depends(require(Permission.jobs_manage))]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Return items older than this id.")]


class SettingsOut(ApiModel):
    name: str
    timezone: str
    default_calendar_id: int | None


class SettingsUpdate(ApiModel):
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)] | None = None
    timezone: Annotated[SafeStr, Field(max_length=64)] | None = None
    default_calendar_id: BodyId | None = Field(None, description="Business hours used where none is chosen.")


class AuditEntryOut(ApiModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: int | None
    actor_label: str
    ip: str | None
    action: str
    target_type: str
    target_id: str | None
    target_label: str
    details: dict[str, Any]
    request_id: str | None


class JobOut(ApiModel):
    id: int
    name: str
    status: JobStatus
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    run_at: datetime
    created_at: datetime
    finished_at: datetime | None
    last_error: str | None


@router.get("/settings", response_model=SettingsOut, summary="Workspace settings")
async def get_settings(kernel: KernelDep, principal: CurrentPrincipal) -> SettingsOut:
    async with kernel.db.reader() as session:
        view = await queries.get_workspace_settings(session)
    return SettingsOut(name=view.name, timezone=view.timezone, default_calendar_id=view.default_calendar_id)


@router.patch("/settings", response_model=SettingsOut, summary="Change workspace settings")
async def patch_settings(kernel: KernelDep, principal: ManageSettings, body: SettingsUpdate) -> SettingsOut:
    clear = "default_calendar_id" in body.model_fields_set and body.default_calendar_id is None
    async with kernel.db.transaction() as session:
        row = await service.update_workspace_settings(
            session,
            principal.actor,
            name=body.name,
            timezone=body.timezone,
            default_calendar_id=body.default_calendar_id,
            clear_default_calendar=clear,
        )
        return SettingsOut(name=row.name, timezone=row.timezone, default_calendar_id=row.default_calendar_id)


@router.get("/audit", response_model=Page[AuditEntryOut], summary="The audit log, newest first")
async def get_audit(
    kernel: KernelDep,
    principal: ViewAudit,
    action: Annotated[
        SafeStr | None, Query(max_length=64, description="Exact, or a prefix ending in '.'")
    ] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    target_type: Annotated[SafeStr | None, Query(max_length=32)] = None,
    target_id: Annotated[SafeStr | None, Query(max_length=64)] = None,
    q: Annotated[SafeStr | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: BeforeId = None,
    limit: Limit = 50,
) -> Page[AuditEntryOut]:
    filters = AuditFilter(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        text=q,
        since=_aware(since),
        until=_aware(until),
    )
    async with kernel.db.reader() as session:
        entries = await list_audit_entries(session, filters, limit=limit, before_id=before)
    return page_of([_audit_out(e) for e in entries], limit)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _audit_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut.model_validate(entry, from_attributes=True)


@router.get("/jobs", response_model=Page[JobOut], summary="Background jobs, newest first")
async def get_jobs(
    kernel: KernelDep,
    principal: ManageJobs,
    status: JobStatus | None = None,
    before: BeforeId = None,
    limit: Limit = 50,
) -> Page[JobOut]:
    async with kernel.db.reader() as session:
        found = await kernel_jobs.list_jobs(session, status=status, limit=limit, before_id=before)
    return page_of([_job_out(j) for j in found], limit)


@router.get("/jobs/counts", response_model=dict[str, int], summary="How many jobs are in each state")
async def get_job_counts(kernel: KernelDep, principal: ManageJobs) -> dict[str, int]:
    async with kernel.db.reader() as session:
        return await kernel_jobs.count_jobs_by_status(session)


@router.post(
    "/jobs/{job_id}/retry",
    response_model=JobOut,
    responses=problems(404, 409),
    summary="Run a dead job again",
)
async def retry_job(kernel: KernelDep, principal: ManageJobs, job_id: PathId) -> JobOut:
    async with kernel.db.transaction() as session:
        found = await service.retry_job(session, principal.actor, job_id)
        return _job_out(found)


@router.delete("/jobs/{job_id}", status_code=204, responses=problems(404, 409), summary="Discard a dead job")
async def discard_job(kernel: KernelDep, principal: ManageJobs, job_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.discard_job(session, principal.actor, job_id)
    return Response(status_code=204)


def _job_out(found: Job) -> JobOut:
    return JobOut(
        id=found.id,
        name=found.name,
        status=JobStatus(found.status),
        attempts=found.attempts,
        max_attempts=found.max_attempts,
        payload=found.payload,
        run_at=found.run_at,
        created_at=found.created_at,
        finished_at=found.finished_at,
        last_error=found.last_error,
    )
