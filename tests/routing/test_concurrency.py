"""Four `kefu serve` nodes on one PostgreSQL + Redis hammer assignment at once: visitors start chats,
agents go online and away and resolve their chats, each request on a random node.

Afterwards: no conversation was ever assigned by routing over another assignment (the audit
trail of every automatic assignment says it was unassigned), no agent is above capacity, and
nothing waits while an online member of its queue has room. The background jobs are off on
every node, so the minute sweep cannot repair anything: only the event-driven decisions count.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from kefu.accounts.access import Role
from kefu.conversations import Conversation
from kefu.conversations.rules import ACTIVE_STATUSES
from kefu.platform.audit import AuditEntry
from kefu.routing.models import AgentCapacity, AgentPresence
from kefu.settings import Settings
from tests.conftest import ON_POSTGRES, REDIS_URL
from tests.factories import Factory
from tests.live import ServerProcess, settings_env
from tests.web_chat.support import make_widget, start

pytestmark = pytest.mark.skipif(
    not (ON_POSTGRES and REDIS_URL), reason="needs KEFU_DATABASE_URL=postgresql… and KEFU_REDIS_URL"
)

NODES = 4
AGENTS = 6
CHATS_EACH = 2
VISITORS = 36


async def test_four_nodes_never_assign_twice_never_exceed_capacity_never_strand(
    tmp_path: Path, settings: Settings, factory: Factory
) -> None:
    rng = random.Random(4)
    team = await factory.team("Concurrency queue")
    agents = [await factory.user(Role.agent, team_ids=[team]) for _ in range(AGENTS)]
    async with factory.kernel.db.transaction() as session:
        for agent in agents:
            session.add(AgentCapacity(user_id=agent.id, channel="web_chat", max_concurrent=CHATS_EACH))
    headers = {agent.id: await factory.token(agent) for agent in agents}
    widget = await make_widget(factory.kernel, queue_id=team)
    env = settings_env(settings, KEFU_RUN_JOBS="false")
    nodes = [ServerProcess(env, log=tmp_path / f"node{i}.log") for i in range(NODES)]

    with contextlib.ExitStack() as stack:
        for node in nodes:
            node.start()
            stack.callback(node.stop)
        clients = [httpx.AsyncClient(base_url=node.url, timeout=30) for node in nodes]
        try:

            def any_node() -> httpx.AsyncClient:
                return clients[rng.randrange(NODES)]

            async def visitor(n: int) -> None:
                await asyncio.sleep(rng.random() * 2)
                session = (await any_node().post(f"/api/v1/widget/{widget.key}/session", json={})).json()
                await start(any_node(), session["token"], body=f"visitor {n}")

            async def agent_loop(user_id: int) -> None:
                for step in range(8):
                    state = "online" if step % 3 != 1 else "away"
                    response = await any_node().put(
                        "/api/v1/presence/me", json={"state": state}, headers=headers[user_id]
                    )
                    assert response.status_code == 200, response.text
                    await asyncio.sleep(rng.random() * 0.4)
                    mine = await any_node().get(
                        "/api/v1/conversations", params={"view": "mine"}, headers=headers[user_id]
                    )
                    assert mine.status_code == 200, mine.text
                    for item in mine.json()["items"][: rng.randint(0, 2)]:
                        done = await any_node().post(
                            f"/api/v1/conversations/{item['id']}/status",
                            json={"status": "resolved"},
                            headers=headers[user_id],
                        )
                        assert done.status_code in (200, 409), done.text
                # Everyone ends online, so "nothing waits while someone has room" is a strict check.
                final = await any_node().put(
                    "/api/v1/presence/me", json={"state": "online"}, headers=headers[user_id]
                )
                assert final.status_code == 200, final.text

            await asyncio.gather(*(visitor(n) for n in range(VISITORS)), *(agent_loop(a.id) for a in agents))
        finally:
            for client in clients:
                await client.aclose()

        # The nodes' handlers finish their decisions after the last answers: wait until quiet.
        previous: Any = None
        for _ in range(40):
            await asyncio.sleep(0.5)
            async with factory.kernel.db.reader() as session:
                state = (
                    await session.execute(
                        select(Conversation.id, Conversation.assignee_id, Conversation.status).order_by(
                            Conversation.id
                        )
                    )
                ).all()
            if state == previous:
                break
            previous = state
        logs = "\n".join(node.log() for node in nodes)

    assert "Traceback" not in logs, logs
    active = {s.value for s in ACTIVE_STATUSES}
    ids = [a.id for a in agents]
    async with factory.kernel.db.reader() as session:
        conversations = (
            await session.scalars(select(Conversation).where(Conversation.queue_id == team))
        ).all()
        assert len(conversations) == VISITORS
        automatic = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "conversation.assigned", AuditEntry.actor_label == "routing"
                )
            )
        ).all()
        online = set(
            await session.scalars(
                select(AgentPresence.user_id).where(
                    AgentPresence.user_id.in_(ids), AgentPresence.state == "online"
                )
            )
        )
        loads = dict(
            (
                await session.execute(
                    select(Conversation.assignee_id, func.count())
                    .where(Conversation.assignee_id.in_(ids), Conversation.status.in_(active))
                    .group_by(Conversation.assignee_id)
                )
            ).all()
        )

    assert len(automatic) >= VISITORS // 2  # the hammering did make routing work
    overwritten = [entry.target_id for entry in automatic if entry.details["details"]["from"] is not None]
    assert overwritten == [], "routing assigned over an assignment"
    per_conversation: dict[str, int] = {}
    for entry in automatic:
        per_conversation[entry.target_id or ""] = per_conversation.get(entry.target_id or "", 0) + 1
    # Automatic assignments of one conversation are separated by a hand-back (never two live at once):
    # here nothing hands back, so each conversation was given by routing at most once.
    assert max(per_conversation.values()) == 1
    assert all(n <= CHATS_EACH for n in loads.values()), loads
    assert online == set(ids)
    waiting = [c.id for c in conversations if c.status == "open" and c.assignee_id is None]
    room = [uid for uid in ids if loads.get(uid, 0) < CHATS_EACH]
    assert not (waiting and room), f"{waiting} wait while agents {room} have room"
