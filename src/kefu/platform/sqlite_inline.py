"""SQLite on the event loop's own thread: aiosqlite's interface without its worker thread.

aiosqlite runs every call (each statement, fetch, commit) on a worker thread and wakes the
event loop when it is done. On the small, indexed statements kefu runs, SQLite itself takes
microseconds, but that round trip costs about a millisecond of CPU on the machines we measured
(thread wake-ups inside a VM), so a chat message of a dozen statements spent most of its time
handing work between threads (see docs/BENCHMARKS.md, "Live chat load").

:class:`InlineConnection` is an ``aiosqlite.Connection`` whose calls run at once on the calling
thread, so SQLAlchemy's aiosqlite dialect, the async sessions and every query stay as they are.
What this trades: a statement blocks the event loop while it runs, so it must be short —
true of kefu's OLTP statements on a local file. Long work (backups, imports, reports over
large ranges) should not run through this engine's connections on the request path.

Waiting on a lock is the one case where SQLite itself would block for long: another process
(``kefu worker``, a CLI command) holding the write lock. The connection therefore runs with
``busy_timeout = 0`` and, when SQLite answers "database is locked", retries the same call after
an ``asyncio.sleep`` with growing pauses until the configured timeout, so the event loop keeps
serving while it waits. Retrying is safe: a call refused with SQLITE_BUSY did nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite

# SQLite's extended result codes for "the database/table is locked": the primary codes 5 and 6
# with any extended bits (SQLITE_BUSY_RECOVERY, SQLITE_LOCKED_SHAREDCACHE…).
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_FIRST_PAUSE = 0.001
_MAX_PAUSE = 0.05


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _BUSY_CODES
    return "locked" in str(error) or "busy" in str(error)


class _InlineQueue:
    """Stands in for aiosqlite's queue to its worker: runs each item as it is put.

    SQLAlchemy's dialect puts work on ``connection._tx`` directly for one call (setting
    ``isolation_level``) and awaits the future, so that path must work too.
    """

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread (see the module doc)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], *, lock_timeout: float) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]  # duck-typed: only put_nowait is used
        self._lock_timeout = lock_timeout

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        deadline: float | None = None
        pause = _FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._lock_timeout
                if now >= deadline:
                    raise
                await asyncio.sleep(min(pause, deadline - now))
                pause = min(pause * 2, _MAX_PAUSE)

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None

    async def close(self) -> None:
        self.stop()


def connector(path: str, *, lock_timeout: float = 10.0) -> Callable[[], InlineConnection]:
    """``async_creator`` for ``create_async_engine``: a fresh inline connection to ``path``."""

    def create() -> InlineConnection:
        connect = partial(
            sqlite3.connect,
            path,
            timeout=0,  # never block the loop on a lock: InlineConnection waits with asyncio
            isolation_level=None,
            check_same_thread=False,
            uri=path.startswith("file:"),
        )
        return InlineConnection(connect, lock_timeout=lock_timeout)

    return create
