"""Test fixtures: a fresh migrated database per test, the app, clients and factories.

The same suite runs on SQLite (default) and on PostgreSQL + Redis: set KEFU_DATABASE_URL
to a PostgreSQL server URL (postgresql+asyncpg://user@host/postgres) and KEFU_REDIS_URL;
every test then gets its own database cloned from a migrated template, and its own Redis
key prefix.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from kefu.accounts import passwords
from kefu.app import create_app
from kefu.platform.kernel import Kernel
from kefu.platform.migrate import upgrade
from kefu.settings import Settings
from tests.factories import Factory

# Argon2 with real parameters costs ~50 ms per hash; tests hash hundreds of passwords.
passwords.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

SERVER_URL = os.environ.get("KEFU_DATABASE_URL", "")
REDIS_URL = os.environ.get("KEFU_REDIS_URL") or None
ON_POSTGRES = SERVER_URL.startswith("postgresql")
TEMPLATE_DB = "kefu_test_template"


def pytest_report_header() -> list[str]:
    return [
        f"kefu backends: database={'postgresql' if ON_POSTGRES else 'sqlite'}, "
        f"broker={'redis' if REDIS_URL else 'memory'}"
    ]


def _pg_url(database: str) -> str:
    base, _, _ = SERVER_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    dsn = SERVER_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated to head once per run; each test gets a copy."""
    if ON_POSTGRES:
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
        asyncio.run(_pg_admin(f"CREATE DATABASE {TEMPLATE_DB}"))
        upgrade(_pg_url(TEMPLATE_DB))
        return TEMPLATE_DB
    path = tmp_path_factory.mktemp("template") / "kefu.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return str(path)


@pytest.fixture
def db_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    if ON_POSTGRES:
        name = f"kefu_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f"CREATE DATABASE {name} TEMPLATE {template_database}"))
        yield _pg_url(name)
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    else:
        target = tmp_path / "kefu.sqlite3"
        shutil.copyfile(template_database, target)
        yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def empty_db_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (migration tests)."""
    if ON_POSTGRES:
        name = f"kefu_e_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f"CREATE DATABASE {name}"))
        yield _pg_url(name)
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "redis_prefix": f"kefu-test-{uuid.uuid4().hex[:8]}",
        "secret_key": "test-secret-" + "x7Q2" * 10,
        "job_poll_seconds": 0.05,
        "run_jobs": False,
        "default_locale": "en",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path / "data", db_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings, run_jobs=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def kernel(app: Any) -> Kernel:
    found: Kernel = app.state.kernel
    return found


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 40000)),
        base_url="http://testserver",
        follow_redirects=False,
    )


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as c:
        yield c


@pytest.fixture
async def other_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser, with its own cookies."""
    async with _client(app) as c:
        yield c


@pytest.fixture
def factory(kernel: Kernel) -> Factory:
    return Factory(kernel)
