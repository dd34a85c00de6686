"""Background jobs of routing: timed re-decisions and the minute sweep of silent agents and misses."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from kefu.conversations import waiting_conversations
from kefu.platform.db import Database
from kefu.platform.jobs import JobContext, JobRegistry, job
from kefu.routing import service
from kefu.routing.assignment import assign_waiting

log = logging.getLogger(__name__)


async def assign_all_waiting(db: Database, *, queue_ids: set[int | None] | None = None) -> list[int]:
    """Offer the waiting conversations (of ``queue_ids`` when given), longest waiting first, to the agents.

    Returns the conversations assigned. Each is its own decision (a held or unmatched one does
    not stop the others); at most ``waiting_conversations``' page per round.
    """
    async with db.reader() as session:
        waiting = await waiting_conversations(session)
    assigned: list[int] = []
    for conversation_id, queue_id in waiting:
        if queue_ids is not None and queue_id not in queue_ids:
            continue
        if await assign_waiting(db, conversation_id) is not None:
            assigned.append(conversation_id)
    return assigned


async def sweep(db: Database, *, now: datetime | None = None) -> None:
    """Silent agents go offline; then every conversation still waiting gets another chance."""
    async with db.transaction() as session:
        swept = await service.sweep_silent_agents(session, now=now)
    if swept:
        log.info("presence sweep: %d agent(s) went offline without heartbeat", len(swept))
    await assign_all_waiting(db)


@job("routing.sweep", max_attempts=1, timeout=55.0)
async def sweep_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await sweep(ctx.db)


@job("routing.assign", max_attempts=3, timeout=30.0)
async def assign_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    """A waiting conversation's chances changed with time (an overflow came due, a sticky wait lapsed)."""
    conversation_id = payload.get("conversation_id")
    if isinstance(conversation_id, int):
        await assign_waiting(ctx.db, conversation_id)


def register(registry: JobRegistry) -> None:
    registry.every("* * * * *", sweep_job)
    registry.add(assign_job)
