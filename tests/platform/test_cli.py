"""The `kefu` command line, run as a user runs it (a child process with KEFU_* variables)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from kefu.accounts.models import User
from kefu.platform.db import Database
from kefu.platform.jobs import Job, JobStatus
from kefu.settings import Settings
from tests.conftest import make_settings
from tests.live import settings_env

pytestmark = pytest.mark.slow


def kefu(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kefu", *args],
        env=settings_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _users(settings: Settings) -> list[str]:
    db = Database(settings.db_url)
    try:
        async with db.reader() as session:
            return list(await session.scalars(select(User.email).order_by(User.email)))
    finally:
        await db.dispose()


def test_help_explains_every_command(settings: Settings) -> None:
    result = kefu(settings, "--help")
    assert result.returncode == 0
    for command in (
        "serve",
        "migrate",
        "createuser",
        "worker",
        "backup",
        "restore",
        "demo",
        "simulate",
        "staffing",
    ):
        assert command in result.stdout


async def test_createuser_makes_a_user_who_can_log_in_and_refuses_a_duplicate(settings: Settings) -> None:
    args = ("createuser", "--email", "Boss@Example.com", "--name", "老板", "--role", "admin")
    made = kefu(settings, *args, KEFU_NEW_PASSWORD="a-long-enough-password")
    assert made.returncode == 0, made.stderr
    assert "created user" in made.stdout
    assert await _users(settings) == ["boss@example.com"]
    again = kefu(settings, *args, KEFU_NEW_PASSWORD="a-long-enough-password")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    weak = kefu(settings, "createuser", "--email", "x@example.com", "--name", "X", KEFU_NEW_PASSWORD="123")
    assert weak.returncode == 1
    assert "at least 8 characters" in weak.stderr


async def test_worker_once_runs_the_jobs_that_are_due(settings: Settings) -> None:
    from kefu.accounts.jobs import purge_expired

    db = Database(settings.db_url)
    try:
        async with db.transaction() as session:
            await purge_expired.enqueue(session)
        result = kefu(settings, "worker", "--once")
        assert result.returncode == 0, result.stderr
        async with db.reader() as session:
            statuses = {job.name: job.status for job in await session.scalars(select(Job))}
    finally:
        await db.dispose()
    assert statuses["accounts.purge_expired"] == JobStatus.done
    assert statuses["platform.purge_finished_jobs"] == JobStatus.done  # its periodic tick was due too


async def test_demo_reset_starts_over_with_a_fresh_demo(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path / "data", db_url)
    first = kefu(settings, "demo")
    assert first.returncode == 0, first.stderr
    assert "admin@kefu.example" in first.stdout
    kefu(
        settings,
        "createuser",
        "--email",
        "extra@example.com",
        "--name",
        "Extra",
        KEFU_NEW_PASSWORD="pass-word-99",
    )
    assert "extra@example.com" in await _users(settings)
    unchanged = kefu(settings, "demo")
    assert "already has users" in unchanged.stdout
    reset = kefu(settings, "demo", "--reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    emails = await _users(settings)
    assert "extra@example.com" not in emails
    assert "admin@kefu.example" in emails


def test_a_bad_setting_is_a_clear_message_not_a_traceback(settings: Settings) -> None:
    result = kefu(settings, "migrate", KEFU_PORT="not-a-port")
    assert result.returncode == 2
    assert "invalid setting" in result.stderr
    assert "Traceback" not in result.stderr
    weak = kefu(settings, "migrate", KEFU_ENV="production", KEFU_SECRET_KEY="changeme")
    assert weak.returncode == 2
    assert "too weak" in weak.stderr
