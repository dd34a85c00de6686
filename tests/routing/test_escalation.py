"""Escalation to a supervisor (升级) and consulting a colleague (咨询), over the JSON API."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from kefu.accounts.access import Role
from kefu.conversations import Conversation
from kefu.conversations.models import Message, Notification
from kefu.platform.audit import AuditEntry
from kefu.platform.kernel import Kernel
from kefu.routing import PresenceState
from tests.factories import Factory, post_form
from tests.routing.support import give, new_conversation, presence


async def test_escalation_goes_to_a_present_supervisor_of_the_queue_and_raises_priority(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    absent = await factory.user(Role.supervisor, team_ids=[team])  # a member, but offline
    elsewhere = await factory.user(Role.supervisor)  # present, not of this queue
    lead = await factory.user(Role.supervisor, team_ids=[team])  # present and of this queue: chosen
    for user in (elsewhere, lead):
        await presence(kernel, user.id, PresenceState.online)
    waiting = await new_conversation(kernel, team)
    await give(kernel, waiting, agent.id)
    headers = await factory.token(agent)

    response = await client.post(
        f"/api/v1/conversations/{waiting}/escalate", json={"note": "客户要求主管处理"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"conversation_id": waiting, "supervisor_id": lead.id, "priority": "high"}
    assert absent.id != lead.id
    async with kernel.db.reader() as session:
        escalated = await session.get(Conversation, waiting)
        assert escalated is not None
        assert (escalated.assignee_id, escalated.priority) == (lead.id, "high")
        notes = (
            await session.scalars(
                select(Message.body).where(Message.conversation_id == waiting, Message.is_note)
            )
        ).all()
        assert "客户要求主管处理" in notes
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "conversation.escalated"))
        assert audit is not None
        assert audit.details["details"]["to"] == lead.id

    # A named supervisor; an agent is refused; urgent stays urgent.
    again = await client.post(
        f"/api/v1/conversations/{waiting}/escalate", json={"supervisor_id": agent.id}, headers=headers
    )
    assert again.status_code == 422, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    named = await client.post(
        f"/api/v1/conversations/{waiting}/escalate", json={"supervisor_id": elsewhere.id}, headers=headers
    )
    assert named.json()["priority"] == "urgent"
    top = await client.post(f"/api/v1/conversations/{waiting}/escalate", json={}, headers=headers)
    assert top.json()["priority"] == "urgent"
    missing = await client.post("/api/v1/conversations/999999/escalate", json={}, headers=headers)
    assert missing.status_code == 404


async def test_consulting_a_colleague_leaves_a_note_and_notifies_them(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="王芳")
    expert = await factory.user(Role.agent, name="李工")
    waiting = await new_conversation(kernel, None)
    await give(kernel, waiting, agent.id)
    headers = await factory.token(agent)

    response = await client.post(
        f"/api/v1/conversations/{waiting}/consult",
        json={"user_id": expert.id, "note": "这个型号能保修吗？"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["is_note"] is True
    assert body["body"] == "这个型号能保修吗？"
    async with kernel.db.reader() as session:
        found = await session.get(Conversation, waiting)
        assert found is not None
        assert found.assignee_id == agent.id  # consulting does not hand over
        notified = (
            await session.scalars(select(Notification).where(Notification.user_id == expert.id))
        ).all()
        assert [(n.kind, n.conversation_id) for n in notified] == [("consult", waiting)]

    for bad, field in (
        ({"user_id": agent.id, "note": "x"}, "user_id"),
        ({"user_id": expert.id, "note": " "}, "note"),
    ):
        refused = await client.post(f"/api/v1/conversations/{waiting}/consult", json=bad, headers=headers)
        assert refused.status_code == 422, refused.text
        assert field in refused.text


async def test_the_conversation_view_escalates_and_consults(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    agent = await factory.user(Role.agent, name="王芳", team_ids=[team])
    expert = await factory.user(Role.agent, name="李工")
    lead = await factory.user(Role.supervisor, name="周主管", team_ids=[team])
    await presence(kernel, lead.id, PresenceState.online)
    waiting = await new_conversation(kernel, team)
    await give(kernel, waiting, agent.id)
    await factory.login(client, agent)
    base = f"/inbox/conversations/{waiting}"
    page = (await client.get(base)).text
    assert f'action="/inbox/conversations/{waiting}/escalate"' in page
    assert f'action="/inbox/conversations/{waiting}/consult"' in page

    asked = await post_form(
        client, f"{base}/consult", {"user_id": str(expert.id), "note": "保修期多久？"}, page=base
    )
    assert asked.status_code == 303
    shown = (await client.get(base)).text
    assert "保修期多久？" in shown
    assert "flash-error" not in shown
    refused = await post_form(client, f"{base}/consult", {"user_id": "", "note": "x"}, page=base)
    assert refused.status_code == 303
    assert "flash-error" in (await client.get(base)).text

    escalated = await post_form(client, f"{base}/escalate", {"note": "客户很生气"}, page=base)
    assert escalated.status_code == 303
    async with kernel.db.reader() as session:
        found = await session.get(Conversation, waiting)
        assert found is not None
        assert (found.assignee_id, found.priority) == (lead.id, "high")
    missing = await post_form(client, "/inbox/conversations/99999999/escalate", {"note": ""}, page=base)
    assert missing.status_code in (303, 404)
