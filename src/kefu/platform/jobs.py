"""Durable background jobs, stored in the database.

A job is enqueued inside the same transaction as the write that caused it, so it exists
exactly when that write committed. Runners (inside ``kefu serve`` by default, or
``kefu worker``) claim due jobs with a lease — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
``BEGIN IMMEDIATE`` write on SQLite — run them, and retry failures with exponential
backoff. A job that fails ``max_attempts`` times is *dead*: kept, visible to admins, and
retried or discarded by hand. A runner that dies mid-job loses its lease, and the job
runs again elsewhere: handlers are idempotent. Periodic jobs are enqueued once per cron
tick under a unique key, so any number of nodes schedule each tick once.

Wake-ups go through the broker (Redis pub/sub when configured), so a job enqueued on one
node starts at once on an idle runner anywhere; polling covers a missed wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from croniter import croniter
from sqlalchemy import Index, String, Text, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.backends import Broker
from kefu.platform.db import Base, Database, utcnow
from kefu.platform.errors import Conflict, NotFound
from kefu.platform.events import Event, EventDispatcher, record_event
from kefu.platform.i18n import N_

log = logging.getLogger(__name__)

WAKE_CHANNEL = "jobs"
LEASE_SECONDS = 300
FINISHED_RETENTION = timedelta(days=7)


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    dead = "dead"


STATUS_LABELS: dict[str, str] = {
    JobStatus.queued: N_("Queued"),
    JobStatus.running: N_("Running"),
    JobStatus.done: N_("Done"),
    JobStatus.dead: N_("Dead"),
}


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    run_at: Mapped[datetime]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)


@dataclass(frozen=True)
class JobEnqueued(Event):
    name: ClassVar[str] = "jobs.enqueued"
    job_name: str


@dataclass
class JobContext:
    """What a job handler gets besides its payload."""

    db: Database
    job_id: int
    attempt: int
    services: dict[str, Any] = field(default_factory=dict)


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: JobHandler
    max_attempts: int = 5
    timeout: float = 300.0

    async def enqueue(
        self,
        session: AsyncSession,
        payload: dict[str, Any] | None = None,
        *,
        delay: timedelta | None = None,
        unique_key: str | None = None,
    ) -> None:
        """Add a job to the session's transaction; it runs after (and only if) the commit."""
        now = utcnow()
        values = {
            "name": self.name,
            "payload": payload or {},
            "status": JobStatus.queued,
            "max_attempts": self.max_attempts,
            "run_at": now + (delay or timedelta()),
            "created_at": now,
            "unique_key": unique_key,
        }
        if unique_key is None:
            session.add(Job(**values))
        else:
            await _insert_ignoring_duplicate(session, values)
        record_event(session, JobEnqueued(self.name))


def job(name: str, *, max_attempts: int = 5, timeout: float = 300.0) -> Callable[[JobHandler], JobSpec]:
    """Declare a job handler: ``@job("accounts.purge_sessions") async def purge(ctx, payload): ...``."""

    def wrap(handler: JobHandler) -> JobSpec:
        return JobSpec(name, handler, max_attempts=max_attempts, timeout=timeout)

    return wrap


@dataclass(frozen=True)
class PeriodicSpec:
    """Run ``job`` on a cron schedule (minute hour day month weekday, in UTC)."""

    job: JobSpec
    cron: str

    def latest_tick(self, now: datetime) -> datetime:
        tick: datetime = croniter(self.cron, now).get_prev(datetime)
        return tick


async def _insert_ignoring_duplicate(session: AsyncSession, values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Job).values(**values).on_conflict_do_nothing(index_elements=["unique_key"])
    await session.execute(stmt)


class JobRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}
        self.periodic: list[PeriodicSpec] = []

    def add(self, *specs: JobSpec) -> None:
        for spec in specs:
            if spec.name in self._specs and self._specs[spec.name] is not spec:
                raise ValueError(f"two jobs are named {spec.name!r}")
            self._specs[spec.name] = spec

    def every(self, cron: str, spec: JobSpec) -> None:
        croniter(cron)  # reject a bad expression at start-up, not at the first tick
        self.add(spec)
        self.periodic.append(PeriodicSpec(spec, cron))

    def get(self, name: str) -> JobSpec | None:
        return self._specs.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)


def backoff(attempt: int) -> timedelta:
    """Wait before retry ``attempt`` (1-based): 5 s doubling, capped at one hour, ±20 % jitter."""
    base = min(3600.0, 5.0 * 2 ** max(0, attempt - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311  # jitter, not security


@dataclass(frozen=True)
class Claimed:
    id: int
    name: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


class JobRunner:
    """Claims and runs due jobs; also schedules the periodic ones."""

    def __init__(
        self,
        db: Database,
        broker: Broker,
        registry: JobRegistry,
        *,
        concurrency: int = 4,
        poll_seconds: float = 2.0,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.broker = broker
        self.registry = registry
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.services = services or {}
        self.node = f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"  # noqa: S311  # a label
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="kefu-jobs-claim"),
            asyncio.create_task(self._wake_loop(), name="kefu-jobs-wake"),
            asyncio.create_task(self._schedule_loop(), name="kefu-jobs-periodic"),
        ]

    async def stop(self, grace: float = 10.0) -> None:
        if not self._loops:
            return
        self._stopping = True
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._loops = []
        await self._release_leases()

    def wake(self) -> None:
        self._wake.set()

    # -- loops -----------------------------------------------------------------------------
    async def _wake_loop(self) -> None:
        async with self.broker.subscribe(WAKE_CHANNEL) as wakeups:
            async for _ in wakeups:
                self._wake.set()

    async def _claim_loop(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._running)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await self.claim(free)
                except Exception:
                    log.exception("claiming jobs failed")
            for item in claimed:
                task = asyncio.create_task(self._execute(item), name=f"kefu-job-{item.id}")
                self._running.add(task)
                task.add_done_callback(self._on_done)
            if len(claimed) == free and free > 0:
                continue  # maybe more are due
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def _schedule_loop(self) -> None:
        while not self._stopping:
            try:
                await self.schedule_periodic()
            except Exception:
                log.exception("scheduling periodic jobs failed")
            await asyncio.sleep(30)

    # -- the steps (public for tests and `kefu worker --once`) -------------------------------
    async def schedule_periodic(self, now: datetime | None = None) -> None:
        now = now or utcnow()
        if not self.registry.periodic:
            return
        async with self.db.transaction() as session:
            for periodic in self.registry.periodic:
                tick = periodic.latest_tick(now)
                key = f"periodic:{periodic.job.name}:{tick:%Y%m%dT%H%M}"
                await periodic.job.enqueue(session, {"tick": tick.isoformat()}, unique_key=key)

    async def claim(self, limit: int) -> list[Claimed]:
        now = utcnow()
        due = or_(
            and_(Job.status == JobStatus.queued, Job.run_at <= now),
            and_(Job.status == JobStatus.running, Job.locked_until < now),
        )
        pick = select(Job.id).where(due).order_by(Job.run_at, Job.id).limit(limit)
        if not self.db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(Job)
            .where(Job.id.in_(pick.scalar_subquery()))
            .values(
                status=JobStatus.running,
                locked_by=self.node,
                locked_until=now + timedelta(seconds=LEASE_SECONDS),
                started_at=now,
                attempts=Job.attempts + 1,
            )
            .returning(Job.id, Job.name, Job.payload, Job.attempts, Job.max_attempts)
            .execution_options(synchronize_session=False)
        )
        async with self.db.transaction() as session:
            rows = (await session.execute(stmt)).all()
        claimed = [Claimed(r.id, r.name, r.payload, r.attempts, r.max_attempts) for r in rows]
        runnable = []
        for item in claimed:
            if item.attempts > item.max_attempts:
                # Its runner died (lease expired) on every attempt: stop trying.
                await self._finish(item, error="lease expired on every attempt", dead=True)
            else:
                runnable.append(item)
        return sorted(runnable, key=lambda c: c.id)

    async def run_pending(self) -> int:
        """Run due jobs until none is left (tests, `kefu worker --once`); returns how many ran."""
        count = 0
        while batch := await self.claim(self.concurrency):
            await asyncio.gather(*(self._execute(item) for item in batch))
            count += len(batch)
        return count

    async def _execute(self, item: Claimed) -> None:
        spec = self.registry.get(item.name)
        if spec is None:
            await self._finish(item, error=f"no handler is registered for job {item.name!r}", dead=True)
            return
        ctx = JobContext(db=self.db, job_id=item.id, attempt=item.attempts, services=self.services)
        heartbeat = asyncio.create_task(self._heartbeat(item.id))
        try:
            await asyncio.wait_for(spec.handler(ctx, item.payload), timeout=spec.timeout)
        except asyncio.CancelledError:
            heartbeat.cancel()
            raise
        except Exception as exc:
            log.warning(
                "job %s #%d failed (attempt %d/%d): %r",
                item.name,
                item.id,
                item.attempts,
                item.max_attempts,
                exc,
            )
            error = "".join(traceback.format_exception(exc))[-4000:]
            await self._finish(item, error=error, dead=item.attempts >= item.max_attempts)
        else:
            await self._finish(item)
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            async with self.db.transaction() as session:
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.locked_by == self.node)
                    .values(locked_until=utcnow() + timedelta(seconds=LEASE_SECONDS))
                )

    async def _finish(self, item: Claimed, *, error: str | None = None, dead: bool = False) -> None:
        now = utcnow()
        values: dict[str, Any] = {"locked_by": None, "locked_until": None, "last_error": error}
        if error is None:
            values.update(status=JobStatus.done, finished_at=now)
        elif dead:
            values.update(status=JobStatus.dead, finished_at=now)
        else:
            values.update(status=JobStatus.queued, run_at=now + backoff(item.attempts))
        async with self.db.transaction() as session:
            # Only the lease holder may finish: a runner that lost its lease says nothing.
            await session.execute(
                update(Job).where(Job.id == item.id, Job.locked_by == self.node).values(**values)
            )

    async def _release_leases(self) -> None:
        with contextlib.suppress(Exception):
            async with self.db.transaction() as session:
                await session.execute(
                    update(Job)
                    .where(Job.status == JobStatus.running, Job.locked_by == self.node)
                    .values(
                        status=JobStatus.queued, locked_by=None, locked_until=None, attempts=Job.attempts - 1
                    )
                )


def wire_wakeups(dispatcher: EventDispatcher, broker: Broker) -> None:
    """After a commit that enqueued jobs, wake the runners on every node."""

    async def on_enqueued(event: JobEnqueued) -> None:
        await broker.publish(WAKE_CHANNEL, event.job_name)

    dispatcher.subscribe(JobEnqueued, on_enqueued)


# -- reads and admin actions over jobs (used by the admin pages and API) ---------------------
async def count_jobs_by_status(session: AsyncSession) -> dict[str, int]:
    rows = (await session.execute(select(Job.status, func.count()).group_by(Job.status))).all()
    counts = {status.value: 0 for status in JobStatus}
    counts.update(dict(rows))
    return counts


async def list_jobs(
    session: AsyncSession, *, status: JobStatus | None = None, limit: int = 50, before_id: int | None = None
) -> Sequence[Job]:
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if before_id is not None:
        stmt = stmt.where(Job.id < before_id)
    return (await session.scalars(stmt)).all()


async def get_job(session: AsyncSession, job_id: int) -> Job:
    found = await session.get(Job, job_id)
    if found is None:
        raise NotFound("No job with this id.")
    return found


async def retry_dead_job(session: AsyncSession, job_id: int) -> Job:
    found = await get_job(session, job_id)
    if found.status != JobStatus.dead:
        raise Conflict("Only a dead job can be retried.")
    found.status = JobStatus.queued
    found.attempts = 0
    found.run_at = utcnow()
    found.finished_at = None
    record_event(session, JobEnqueued(found.name))
    return found


async def discard_dead_job(session: AsyncSession, job_id: int) -> None:
    found = await get_job(session, job_id)
    if found.status != JobStatus.dead:
        raise Conflict("Only a dead job can be discarded.")
    await session.delete(found)


@job("platform.purge_finished_jobs", max_attempts=3)
async def purge_finished_jobs(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.db.transaction() as session:
        await session.execute(
            delete(Job).where(Job.status == JobStatus.done, Job.finished_at < utcnow() - FINISHED_RETENTION)
        )


def register_kernel_jobs(registry: JobRegistry) -> None:
    registry.every("17 3 * * *", purge_finished_jobs)
