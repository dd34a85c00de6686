"""Quick replies: shortcuts, who may change what, suggestions, the API."""

from __future__ import annotations

import httpx
import pytest

from kefu.accounts import Role, User
from kefu.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.platform.kernel import Kernel
from kefu.replies import QuickReply
from kefu.replies import service as replies_service
from kefu.replies.queries import suggest
from tests.factories import Factory
from tests.replies.support import new_conversation, principal_of

PROBLEM_JSON = "application/problem+json"


async def create(
    kernel: Kernel, user: User, shortcut: str, *, shared: bool = False, title: str = "T", body: str = "B"
) -> QuickReply:
    async with kernel.db.transaction() as session:
        return await replies_service.create_quick_reply(
            session,
            principal_of(user),
            replies_service.QuickReplyInput(shortcut, title, body),
            shared=shared,
        )


async def test_shortcuts_are_unique_per_owner_and_among_shared(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    colleague = await factory.user(Role.agent)
    supervisor = await factory.user(Role.supervisor)
    mine = await create(kernel, agent, "/Hi")
    assert mine.shortcut == "hi"
    await create(kernel, colleague, "hi")  # another owner
    await create(kernel, supervisor, "hi", shared=True)  # shared ones are their own namespace
    with pytest.raises(Conflict):
        await create(kernel, agent, "hi")
    with pytest.raises(Conflict):
        await create(kernel, supervisor, "HI", shared=True)
    other = await create(kernel, agent, "bye")
    with pytest.raises(Conflict):
        async with kernel.db.transaction() as session:
            await replies_service.update_quick_reply(session, principal_of(agent), other.id, shortcut="hi")
    for bad in ("", "中文", "has space", "a" * 41, "semi;colon"):
        with pytest.raises(InvalidInput):
            await create(kernel, agent, bad)


async def test_personal_and_shared_permissions(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    colleague = await factory.user(Role.agent)
    supervisor = await factory.user(Role.supervisor)
    with pytest.raises(PermissionDenied):
        await create(kernel, agent, "shared", shared=True)
    shared = await create(kernel, supervisor, "shared", shared=True)
    personal = await create(kernel, colleague, "mine")

    async with kernel.db.transaction() as session:
        with pytest.raises(PermissionDenied):
            await replies_service.update_quick_reply(session, principal_of(agent), shared.id, title="x")
        with pytest.raises(PermissionDenied):
            await replies_service.delete_quick_reply(session, principal_of(agent), shared.id)
        with pytest.raises(NotFound):  # another's personal reply is not even visible
            await replies_service.update_quick_reply(session, principal_of(agent), personal.id, title="x")
        with pytest.raises(NotFound):
            await replies_service.update_quick_reply(
                session, principal_of(supervisor), personal.id, title="x"
            )
        changed = await replies_service.update_quick_reply(
            session, principal_of(supervisor), shared.id, title="Shared, edited"
        )
        assert changed.title == "Shared, edited"


async def test_suggest_puts_shortcut_prefixes_first_then_most_used(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    supervisor = await factory.user(Role.supervisor)
    other = await factory.user(Role.agent)
    ret = await create(kernel, agent, "return", title="退货")
    refund = await create(kernel, supervisor, "refund", title="退款", shared=True)
    about = await create(kernel, agent, "policy", title="Return policy", body="…")
    body_hit = await create(kernel, agent, "zz", title="Other", body="how to RETURN an item")
    await create(kernel, other, "rest", title="not mine")
    await create(kernel, agent, "hello", title="nothing in common")
    async with kernel.db.transaction() as session:
        for _ in range(3):
            await replies_service.record_use(session, principal_of(agent), refund.id)
        await replies_service.record_use(session, principal_of(agent), body_hit.id)
    async with kernel.db.reader() as session:
        found = [r.id for r in await suggest(session, agent.id, "/re")]
        assert found == [refund.id, ret.id, body_hit.id, about.id]
        assert [r.id for r in await suggest(session, agent.id, "re", limit=1)] == [refund.id]
        assert [r.id for r in await suggest(session, agent.id, "退")] == [refund.id, ret.id]


async def test_quick_reply_api_and_rendered_suggestions(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="张三")
    headers = await factory.token(agent)
    created = await client.post(
        "/api/v1/quick-replies",
        json={
            "shortcut": "greet",
            "title": "问候",
            "body": "您好{客户姓名}，我是{坐席姓名}。",
            "kind": "greeting",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    reply = created.json()
    assert (reply["shortcut"], reply["kind"], reply["shared"], reply["group"]) == (
        "greet",
        "greeting",
        False,
        "",
    )

    conversation = await new_conversation(kernel, name="王先生")
    suggestions = await client.get(
        "/api/v1/quick-replies/suggest", params={"q": "gr", "conversation_id": conversation}, headers=headers
    )
    assert suggestions.status_code == 200, suggestions.text
    assert suggestions.json() == [
        {
            "id": reply["id"],
            "shortcut": "greet",
            "title": "问候",
            "group": "",
            "kind": "greeting",
            "text": "您好王先生，我是张三。",
        }
    ]
    bare = await client.get("/api/v1/quick-replies/suggest", params={"q": "gr"}, headers=headers)
    assert bare.json()[0]["text"] == "您好{客户姓名}，我是张三。"

    patched = await client.patch(
        f"/api/v1/quick-replies/{reply['id']}", json={"group": "通用"}, headers=headers
    )
    assert patched.json()["group"] == "通用"
    listed = await client.get("/api/v1/quick-replies", params={"q": "客户"}, headers=headers)
    assert [r["id"] for r in listed.json()] == [reply["id"]]
    assert (await client.post(f"/api/v1/quick-replies/{reply['id']}/use", headers=headers)).status_code == 204
    assert (await client.get(f"/api/v1/quick-replies/{reply['id']}", headers=headers)).json()[
        "use_count"
    ] == 1
    assert (await client.delete(f"/api/v1/quick-replies/{reply['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/api/v1/quick-replies/{reply['id']}", headers=headers)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"shortcut": "ok", "title": "t"},
        {"shortcut": "ok", "title": "t", "body": "{unknown_var}"},
        {"shortcut": "with space", "title": "t", "body": "b"},
        {"shortcut": "ok", "title": "t", "body": "b", "kind": "poem"},
        {"shortcut": "ok", "title": "", "body": "b"},
        {"shortcut": "ok", "title": "t", "body": "b\u0000"},
        {"shortcut": "ok", "title": "t", "body": "x" * 5001},
    ],
)
async def test_bad_quick_reply_input_is_a_422_problem(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, object]
) -> None:
    headers = await factory.token(await factory.user(Role.agent))
    response = await client.post("/api/v1/quick-replies", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


async def test_agents_get_403_on_shared_ones_through_the_api(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supervisor = await factory.user(Role.supervisor)
    agent = await factory.user(Role.agent)
    sup_headers = await factory.token(supervisor)
    agent_headers = await factory.token(agent)
    shared = await client.post(
        "/api/v1/quick-replies",
        json={"shortcut": "s", "title": "t", "body": "b", "shared": True},
        headers=sup_headers,
    )
    assert shared.status_code == 201
    refused = await client.post(
        "/api/v1/quick-replies",
        json={"shortcut": "s", "title": "t", "body": "b", "shared": True},
        headers=agent_headers,
    )
    assert refused.status_code == 403
    patch = await client.patch(
        f"/api/v1/quick-replies/{shared.json()['id']}", json={"title": "x"}, headers=agent_headers
    )
    assert patch.status_code == 403
    assert (
        await client.get(
            "/api/v1/quick-replies/suggest", params={"conversation_id": 999999}, headers=agent_headers
        )
    ).status_code == 404
