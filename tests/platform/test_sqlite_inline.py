"""SQLite on the event loop's thread: waiting for another process's lock must not stop the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from kefu.platform import db as db_module
from kefu.platform.db import Database


@pytest.fixture
async def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE t (v INTEGER)"))
    return database


def _hold_write_lock(path: str, seconds: float, locked: threading.Event) -> None:
    """Another writer (like ``kefu worker`` or a CLI command) holding the lock for a while."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    locked.set()
    threading.Event().wait(seconds)
    other.execute("COMMIT")
    other.close()


async def test_a_write_waits_for_the_lock_while_the_loop_runs(database: Database, tmp_path: Path) -> None:
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(str(tmp_path / "x.sqlite3"), 0.5, locked))
    holder.start()
    await asyncio.to_thread(locked.wait)
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
    await asyncio.to_thread(locked.wait)
    with pytest.raises(OperationalError, match="locked"):
        async with short.transaction() as session:
            await session.execute(text("INSERT INTO t VALUES (3)"))
    await asyncio.to_thread(holder.join)
    async with short.reader() as session:
        assert (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [1]
    await short.dispose()
    await database.dispose()
