"""Database access: engines, the declarative base, and the two session scopes.

Routes and jobs open exactly one scope per unit of work:

* ``db.transaction()`` for writes: commits once at the end, then hands the events the
  services recorded to the event sink (they are dropped on rollback);
* ``db.reader()`` for reads: never commits.

On SQLite a write scope starts with ``BEGIN IMMEDIATE`` on a one-connection writer pool,
so writers queue in asyncio instead of failing with "database is locked" half-way through
a transaction; readers use a separate pool and see a WAL snapshot.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData, event, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from kefu.platform import sqlite_inline

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PENDING_EVENTS = "kefu.pending_events"
LOCK_TIMEOUT = 10.0  # seconds a SQLite statement waits for another process's lock
COMMITTED_EVENTS = "kefu.committed_events"


def _json_dumps(value: Any) -> str:
    # Unescaped text keeps JSON columns readable and searchable (a tag 售后 stays "售后").
    return json.dumps(value, ensure_ascii=False)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class KefuSession(Session):
    """The sync session behind every AsyncSession; carries the events recorded in it."""


@event.listens_for(KefuSession, "after_commit")
def _promote_events(session: Session) -> None:
    pending = session.info.pop(PENDING_EVENTS, [])
    if pending:
        session.info.setdefault(COMMITTED_EVENTS, []).extend(pending)


@event.listens_for(KefuSession, "after_rollback")
def _drop_events(session: Session) -> None:
    session.info.pop(PENDING_EVENTS, None)


EventSink = Callable[[Sequence[Any]], Awaitable[None]]


async def _no_sink(events: Sequence[Any]) -> None:
    return None


class Database:
    """Engines and session scopes for one database URL."""

    def __init__(self, url: str | URL, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._sink: EventSink = _no_sink
        if self.is_sqlite:
            # Statements run on the event loop's thread (see sqlite_inline): no thread hop each.
            creator = sqlite_inline.connector(self.url.database or ":memory:", lock_timeout=LOCK_TIMEOUT)
            self.writer = create_async_engine(
                self.url,
                async_creator=creator,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                echo=echo,
                json_serializer=_json_dumps,
            )
            self.engine = create_async_engine(
                self.url,
                async_creator=creator,
                pool_size=5,
                max_overflow=5,
                echo=echo,
                json_serializer=_json_dumps,
            )
            _configure_sqlite(self.writer, immediate=True)
            _configure_sqlite(self.engine, immediate=False)
        else:
            self.engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                echo=echo,
                json_serializer=_json_dumps,
            )
            self.writer = self.engine
        self._write_sessions = async_sessionmaker(
            self.writer, expire_on_commit=False, sync_session_class=KefuSession
        )
        self._read_sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=KefuSession
        )

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def set_event_sink(self, sink: EventSink) -> None:
        """Where committed events go (the event dispatcher); set once by the app."""
        self._sink = sink

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._write_sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            events = session.info.pop(COMMITTED_EVENTS, [])
        if events:
            await self._sink(events)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        # Closing (not rolling back) ends the transaction without expiring the objects read,
        # so templates can use them after the scope.
        async with self._read_sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.writer is not self.engine:
            await self.writer.dispose()


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No waiting inside SQLite: the inline connection waits for locks with asyncio.
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def record_on_session(session: AsyncSession | Session, item: Any) -> None:
    """Attach an event to the session's transaction: published after commit, dropped on rollback."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(PENDING_EVENTS, []).append(item)
