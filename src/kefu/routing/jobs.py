"""Background jobs of routing: the minute sweep of silent agents and missed assignments."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from kefu.conversations import waiting_conversations
from kefu.platform.db import Database
from kefu.platform.jobs import JobContext, JobRegistry, job
from kefu.routing import service
from kefu.routing.assignment import Assigner, LeastOpenAssigner, assign_waiting

log = logging.getLogger(__name__)

DEFAULT_ASSIGNER: Assigner = LeastOpenAssigner()


async def assign_all_waiting(
    db: Database, assigner: Assigner, *, queue_ids: set[int | None] | None = None
) -> list[int]:
    """Offer every waiting conversation (of ``queue_ids`` when given) to the available agents.

    Returns the conversations assigned. A queue where nobody could be found is skipped for
    the rest of the round, so a long backlog costs one query per queue, not per conversation.
    """
    async with db.reader() as session:
        waiting = await waiting_conversations(session)
    assigned: list[int] = []
    nobody: set[int | None] = set()
    for conversation_id, queue_id in waiting:
        if (queue_ids is not None and queue_id not in queue_ids) or queue_id in nobody:
            continue
        if await assign_waiting(db, assigner, conversation_id) is None:
            nobody.add(queue_id)
        else:
            assigned.append(conversation_id)
    return assigned


async def sweep(db: Database, assigner: Assigner = DEFAULT_ASSIGNER, *, now: datetime | None = None) -> None:
    """Silent agents go offline; then every conversation still waiting gets another chance."""
    async with db.transaction() as session:
        swept = await service.sweep_silent_agents(session, now=now)
    if swept:
        log.info("presence sweep: %d agent(s) went offline without heartbeat", len(swept))
    await assign_all_waiting(db, assigner)


@job("routing.sweep", max_attempts=1, timeout=55.0)
async def sweep_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await sweep(ctx.db, ctx.services.get("routing.assigner", DEFAULT_ASSIGNER))


def register(registry: JobRegistry) -> None:
    registry.every("* * * * *", sweep_job)
