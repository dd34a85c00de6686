"""Background jobs of the accounts feature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kefu.accounts import service
from kefu.platform.jobs import JobContext, JobRegistry, job
from kefu.settings import Settings


@job("accounts.purge_expired", max_attempts=3)
async def purge_expired(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Forget expired browser sessions and stale login-throttle counters."""
    settings: Settings = ctx.services["settings"]
    async with ctx.db.transaction() as session:
        await service.purge_expired(session, lockout=timedelta(seconds=settings.login_lockout_seconds))


def register(registry: JobRegistry) -> None:
    registry.every("*/30 * * * *", purge_expired)
