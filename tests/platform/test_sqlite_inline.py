"""SQLite on the event loop's thread: waiting for another process's lock must not stop the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kefu.accounts.access import Role
from kefu.platform import db as db_module
from kefu.platform import sqlite_inline
from kefu.platform.db import Database
from kefu.platform.errors import overloaded
from kefu.platform.kernel import Kernel
from tests.factories import Factory


@pytest.fixture
async def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE t (v INTEGER)"))
    return database


def _hold_write_lock(path: str, seconds: float, locked: threading.Event, *, write: bool = True) -> None:
    """Another writer (like ``kefu worker`` or a CLI command) holding the lock for a while."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    if write:
        other.execute("INSERT INTO t VALUES (1)")
    locked.set()
    threading.Event().wait(seconds)
    other.execute("COMMIT")
    other.close()


async def test_a_write_waits_for_the_lock_while_the_loop_runs(database: Database, tmp_path: Path) -> None:
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(str(tmp_path / "x.sqlite3"), 0.5, locked))
    holder.start()
    assert await asyncio.to_thread(locked.wait, 5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(ticker())
    try:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        beat.cancel()
    await asyncio.to_thread(holder.join)
    # The loop kept turning while the write waited about half a second for the other writer.
    assert ticks >= 10
    async with database.reader() as session:
        assert (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [1, 2]
    await database.dispose()


async def test_a_lock_held_too_long_fails_the_write_cleanly(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "LOCK_TIMEOUT", 0.2)
    short = Database(database.url)  # built after the patch: gives up after 0.2 s
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(str(tmp_path / "x.sqlite3"), 1.0, locked))
    holder.start()
    assert await asyncio.to_thread(locked.wait, 5)
    with pytest.raises(OperationalError, match="locked"):
        async with short.transaction() as session:
            await session.execute(text("INSERT INTO t VALUES (3)"))
    await asyncio.to_thread(holder.join)
    async with short.reader() as session:
        assert (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [1]
    await short.dispose()
    await database.dispose()


async def test_a_request_that_cannot_get_the_lock_is_told_to_retry(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not kernel.db.is_sqlite:
        pytest.skip("SQLite's write lock")
    headers = await factory.token(await factory.user(Role.admin))
    path = kernel.db.url.database
    assert path is not None
    monkeypatch.setattr(sqlite_inline, "_MAX_PAUSE", 0.01)
    # The pooled writer connection was made with the default lock timeout: shorten it there.
    async with kernel.db.writer.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, sqlite_inline.InlineConnection)
        monkeypatch.setattr(driver, "_lock_timeout", 0.2)
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.0, locked), kwargs={"write": False})
    holder.start()
    assert await asyncio.to_thread(locked.wait, 5)
    response = await client.post("/api/v1/teams", json={"name": "售后"}, headers=headers)
    await asyncio.to_thread(holder.join)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "unavailable"
    # Nothing was written, and the same request goes through once the lock is free.
    again = await client.post("/api/v1/teams", json={"name": "售后"}, headers=headers)
    assert again.status_code == 201, again.text


def test_pool_exhaustion_and_lock_timeouts_mean_busy_not_broken() -> None:
    assert overloaded(PoolTimeout("QueuePool limit of size 1 overflow 0 reached")) is not None
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert overloaded(locked) is not None
    assert overloaded(OperationalError("INSERT", {}, sqlite3.OperationalError("no such table: x"))) is None
    assert overloaded(ValueError("x")) is None
