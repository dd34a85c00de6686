"""The durable job queue: transactional enqueue, retries with backoff, dead letters, leases,
periodic ticks, wake-ups and exactly-once claiming with several runners."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from kefu.platform.backends import Broker, create_broker
from kefu.platform.db import Database, utcnow
from kefu.platform.errors import Conflict
from kefu.platform.events import EventDispatcher
from kefu.platform.jobs import (
    Job,
    JobContext,
    JobRegistry,
    JobRunner,
    JobStatus,
    backoff,
    count_jobs_by_status,
    discard_dead_job,
    job,
    purge_finished_jobs,
    retry_dead_job,
    wire_wakeups,
)
from tests.conftest import REDIS_URL

done: list[tuple[str, Any]] = []


@job("test.record")
async def record(ctx: JobContext, payload: dict[str, Any]) -> None:
    done.append(("record", payload.get("n")))


@job("test.flaky", max_attempts=3)
async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
    done.append(("flaky", ctx.attempt))
    raise RuntimeError(f"flaky failure #{ctx.attempt}")


@pytest.fixture(autouse=True)
def _reset() -> None:
    done.clear()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    import uuid

    url = REDIS_URL or f"memory://jobs-{uuid.uuid4().hex}"
    made = create_broker(url, prefix=f"kefu-jobs-{uuid.uuid4().hex[:8]}")
    await made.connect()
    yield made
    await made.close()


def _runner(db: Database, broker: Broker, **kwargs: Any) -> JobRunner:
    registry = JobRegistry()
    registry.add(record, flaky)
    return JobRunner(
        db, broker, registry, concurrency=kwargs.pop("concurrency", 4), poll_seconds=30, **kwargs
    )


async def _jobs(db: Database) -> list[Job]:
    async with db.reader() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


async def _make_due(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(update(Job).where(Job.status == JobStatus.queued).values(run_at=utcnow()))


async def test_a_job_exists_only_if_its_transaction_committed(db: Database, broker: Broker) -> None:
    async def enqueue_then_fail() -> None:
        async with db.transaction() as session:
            await record.enqueue(session, {"n": 1})
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await enqueue_then_fail()
    async with db.transaction() as session:
        await record.enqueue(session, {"n": 2})
    runner = _runner(db, broker)
    assert await runner.run_pending() == 1
    assert done == [("record", 2)]
    [only] = await _jobs(db)
    assert only.status == JobStatus.done
    assert only.finished_at is not None


async def test_failures_retry_with_backoff_then_the_job_is_dead(db: Database, broker: Broker) -> None:
    async with db.transaction() as session:
        await flaky.enqueue(session)
    runner = _runner(db, broker)
    assert await runner.run_pending() == 1
    [first] = await _jobs(db)
    assert first.status == JobStatus.queued
    assert first.attempts == 1
    assert first.run_at > utcnow()  # it waits before the retry
    assert first.last_error is not None
    assert "flaky failure #1" in first.last_error
    assert await runner.run_pending() == 0  # not due yet
    for _ in range(2):
        await _make_due(db)
        await runner.run_pending()
    [dead] = await _jobs(db)
    assert dead.status == JobStatus.dead
    assert dead.attempts == 3
    assert done == [("flaky", 1), ("flaky", 2), ("flaky", 3)]


def test_backoff_grows_and_is_capped() -> None:
    waits = [backoff(n).total_seconds() for n in range(1, 15)]
    assert 4 <= waits[0] <= 6
    assert 8 <= waits[1] <= 12
    assert max(waits) <= 3600 * 1.2
    assert waits[8] > waits[2]


async def test_dead_jobs_can_be_retried_or_discarded(db: Database, broker: Broker) -> None:
    async with db.transaction() as session:
        await flaky.enqueue(session)
        await record.enqueue(session, {"n": 1})
    runner = _runner(db, broker)
    for _ in range(3):
        await _make_due(db)
        await runner.run_pending()
    dead, ok = await _jobs(db)
    assert dead.status == JobStatus.dead
    async with db.transaction() as session:
        with pytest.raises(Conflict):
            await retry_dead_job(session, ok.id)
    async with db.transaction() as session:
        await retry_dead_job(session, dead.id)
    async with db.reader() as session:
        assert (await count_jobs_by_status(session))["queued"] == 1
    done.clear()
    for _ in range(3):
        await _make_due(db)
        await runner.run_pending()
    assert done == [("flaky", 1), ("flaky", 2), ("flaky", 3)]  # a retry starts with fresh attempts
    async with db.transaction() as session:
        await discard_dead_job(session, dead.id)
    assert [j.id for j in await _jobs(db)] == [ok.id]


async def test_a_job_with_no_handler_is_dead_at_once(db: Database, broker: Broker) -> None:
    @job("test.removed_in_this_version")
    async def gone(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise AssertionError("never runs")

    async with db.transaction() as session:
        await gone.enqueue(session)
    await _runner(db, broker).run_pending()
    [dead] = await _jobs(db)
    assert dead.status == JobStatus.dead
    assert "no handler" in (dead.last_error or "")


async def test_a_crashed_runner_loses_its_lease_and_the_job_runs_elsewhere(
    db: Database, broker: Broker
) -> None:
    async with db.transaction() as session:
        await record.enqueue(session, {"n": 7})
    crashed = _runner(db, broker)
    claimed = await crashed.claim(1)
    assert len(claimed) == 1  # ...and then the process died without finishing
    survivor = _runner(db, broker)
    assert await survivor.run_pending() == 0  # the lease still holds
    async with db.transaction() as session:
        await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert await survivor.run_pending() == 1
    [finished] = await _jobs(db)
    assert finished.status == JobStatus.done
    assert finished.attempts == 2
    assert done == [("record", 7)]


async def test_jobs_survive_a_restart(db_url: str, broker: Broker) -> None:
    first = Database(db_url)
    async with first.transaction() as session:
        await record.enqueue(session, {"n": 42})
    await first.dispose()
    second = Database(db_url)
    try:
        assert await _runner(second, broker).run_pending() == 1
    finally:
        await second.dispose()
    assert done == [("record", 42)]


async def test_several_runners_run_each_job_exactly_once(db_url: str, broker: Broker) -> None:
    async with Database(db_url).transaction() as session:
        for n in range(60):
            await record.enqueue(session, {"n": n})
    databases = [Database(db_url) for _ in range(3)]
    try:
        runners = [_runner(database, broker, concurrency=3) for database in databases]
        counts = await asyncio.gather(*(runner.run_pending() for runner in runners))
    finally:
        for database in databases:
            await database.dispose()
    assert sum(counts) == 60
    assert sorted(n for _, n in done) == list(range(60))


async def test_a_periodic_tick_is_enqueued_once_however_many_nodes_schedule_it(
    db: Database, broker: Broker
) -> None:
    registry = JobRegistry()
    registry.every("*/10 * * * *", record)
    runners = [JobRunner(db, broker, registry) for _ in range(3)]
    moment = datetime(2026, 11, 23, 9, 27, tzinfo=UTC)
    for runner in runners:
        await runner.schedule_periodic(now=moment)
    await runners[0].schedule_periodic(now=moment + timedelta(minutes=2))  # same tick (09:20)
    assert len(await _jobs(db)) == 1
    await runners[1].schedule_periodic(now=moment + timedelta(minutes=4))  # 09:30: a new tick
    jobs = await _jobs(db)
    assert [j.unique_key for j in jobs] == [
        "periodic:test.record:20261123T0920",
        "periodic:test.record:20261123T0930",
    ]


def test_a_bad_cron_expression_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # croniter's own message
        JobRegistry().every("every tuesday", record)


async def test_an_enqueue_wakes_an_idle_runner_at_once(db: Database, broker: Broker) -> None:
    dispatcher = EventDispatcher()
    db.set_event_sink(dispatcher.dispatch)
    wire_wakeups(dispatcher, broker)
    runner = _runner(db, broker)  # polls only every 30 s
    await runner.start()
    try:
        await asyncio.sleep(0.2)  # idle now
        async with db.transaction() as session:
            await record.enqueue(session, {"n": "woken"})
        for _ in range(100):
            if done:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert done == [("record", "woken")]


async def test_purge_removes_old_finished_jobs_only(db: Database, broker: Broker) -> None:
    async with db.transaction() as session:
        for n in range(3):
            await record.enqueue(session, {"n": n})
        await flaky.enqueue(session)
    runner = _runner(db, broker)
    await runner.run_pending()
    async with db.transaction() as session:
        jobs = list(await session.scalars(select(Job).order_by(Job.id)))
        jobs[0].finished_at = utcnow() - timedelta(days=30)
    await purge_finished_jobs.handler(JobContext(db=db, job_id=0, attempt=1), {})
    remaining = await _jobs(db)
    assert [j.id for j in remaining] == [j.id for j in jobs[1:]]
