"""Alembic, driven from code: ``kefu migrate`` and ``kefu serve`` upgrade to the newest revision.

Migrations live inside the package (``kefu/migrations``) so an installed kefu can migrate
its own database. On PostgreSQL an advisory lock makes nodes that start together take
turns; the second finds nothing left to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(slug)s")
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def new_revision(url: str, message: str) -> None:
    """Write a new migration by comparing the models with the database at ``url`` (a developer tool)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at (None: empty database). Call from synchronous code."""

    async def read() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def reset_database(url: str) -> None:
    """Delete every table (``kefu demo --reset``); the next upgrade starts from nothing."""

    def drop_sqlite(conn: Connection) -> None:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        reflected = MetaData()
        reflected.reflect(conn)
        reflected.drop_all(conn)

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(text("DROP SCHEMA public CASCADE"))
                    await conn.execute(text("CREATE SCHEMA public"))
                else:
                    await conn.run_sync(drop_sqlite)
        finally:
            await engine.dispose()

    asyncio.run(run())
