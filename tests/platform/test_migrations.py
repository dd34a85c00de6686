"""Migrations upgrade an empty database to head, the models match them, and they reverse."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from kefu.models import metadata
from kefu.platform.migrate import current_revision, downgrade, head_revision, upgrade


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_an_empty_database_upgrades_to_head_and_matches_the_models(empty_db_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_db_url)
    assert await asyncio.to_thread(current_revision, empty_db_url) == head_revision()
    assert await _diff(empty_db_url) == [], "models and migrations differ: write a migration"
    assert set(metadata.tables) <= await _tables(empty_db_url)


async def test_migrations_go_down_and_up_again(empty_db_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_db_url)
    await asyncio.to_thread(downgrade, empty_db_url, "base")
    assert await _tables(empty_db_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, empty_db_url)
    assert await _diff(empty_db_url) == []


async def test_upgrading_twice_is_harmless(empty_db_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_db_url)
    await asyncio.to_thread(upgrade, empty_db_url)
    assert await asyncio.to_thread(current_revision, empty_db_url) == head_revision()
