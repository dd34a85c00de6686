"""Presence API and the supervisor page: shapes, permissions, bad input, escaping."""

from __future__ import annotations

import httpx
import pytest

from kefu.accounts import Role
from kefu.platform.kernel import Kernel
from kefu.routing import PresenceState
from tests.factories import Factory
from tests.routing.support import give, new_conversation, presence

PROBLEM_JSON = "application/problem+json"


async def test_my_presence_round_trip(client: httpx.AsyncClient, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    headers = await factory.token(agent)
    fresh = await client.get("/api/v1/presence/me", headers=headers)
    assert fresh.json() == {"state": "offline", "status_message": "", "automatic": True}

    changed = await client.put(
        "/api/v1/presence/me", json={"state": "busy", "status_message": "写周报"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"state": "busy", "status_message": "写周报", "automatic": False}
    ignored = await client.put(
        "/api/v1/presence/me", json={"state": "away", "automatic": True}, headers=headers
    )
    assert ignored.json()["state"] == "busy"
    beat = await client.post("/api/v1/presence/heartbeat", headers=headers)
    assert beat.status_code == 204
    assert (await client.get("/api/v1/presence/me", headers=headers)).json()["state"] == "busy"


@pytest.mark.parametrize(
    "body",
    [
        {"state": "sleeping"},
        {},
        {"state": "online", "status_message": "x" * 141},
        {"state": "online", "status_message": "a\u0000b"},
        {"state": "online", "extra": 1},
        {"state": "online", "automatic": "sometimes"},
    ],
)
async def test_bad_presence_input_is_a_422_problem(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, object]
) -> None:
    headers = await factory.token(await factory.user(Role.agent))
    response = await client.put("/api/v1/presence/me", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


async def test_everyones_presence_lists_workload(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="李四")
    await give(kernel, await new_conversation(kernel), agent.id)
    await presence(kernel, agent.id, PresenceState.after_call, status_message="整理记录")
    headers = await factory.token(await factory.user(Role.agent))
    response = await client.get("/api/v1/presence", headers=headers)
    assert response.status_code == 200
    [row] = [r for r in response.json() if r["user_id"] == agent.id]
    assert row["name"] == "李四"
    assert row["state"] == "after_call"
    assert row["status_message"] == "整理记录"
    assert row["open_conversations"] == 1
    assert row["changed_at"]
    assert (await client.get("/api/v1/presence")).status_code == 401


async def test_presence_page_for_supervisors_only_and_escaped(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="<b>王五</b>")
    await presence(kernel, agent.id, PresenceState.online, status_message="<script>alert(1)</script>")
    supervisor = await factory.user(Role.supervisor)
    await factory.login(client, supervisor)
    page = await client.get("/supervisor/presence")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert "&lt;b&gt;王五&lt;/b&gt;" in page.text
    assert "/static/presence.js" in page.text
    partial = await client.get("/supervisor/presence", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="presence-table">')
    assert 'data-state="online"' in partial.text

    await factory.login(other_client, await factory.user(Role.agent))
    assert (await other_client.get("/supervisor/presence")).status_code == 403
