"""Macros: validated actions, permissions, and applying them all or nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kefu.accounts import Role, User
from kefu.conversations import (
    Message,
    Status,
    change_status,
    ensure_builtin_categories,
    get_conversation,
    list_categories,
)
from kefu.platform.audit import Actor
from kefu.platform.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.platform.kernel import Kernel
from kefu.replies import Macro, apply_macro
from kefu.replies import service as replies_service
from tests.factories import Factory
from tests.replies.support import new_conversation, principal_of

PROBLEM_JSON = "application/problem+json"


async def make_macro(kernel: Kernel, user: User, actions: dict[str, Any], *, shared: bool = False) -> Macro:
    async with kernel.db.transaction() as session:
        return await replies_service.create_macro(
            session, principal_of(user), name="M", actions=actions, shared=shared
        )


async def messages(kernel: Kernel, conversation_id: int) -> list[Message]:
    async with kernel.db.reader() as session:
        return list(
            await session.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
            )
        )


async def test_apply_runs_every_action(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent, name="张三")
    conversation = await new_conversation(kernel, name="李女士")
    async with kernel.db.transaction() as session:
        await ensure_builtin_categories(session)
        category = (await list_categories(session))[0].id
    macro = await make_macro(
        kernel,
        agent,
        {
            "status": "resolved",
            "priority": "high",
            "category_id": category,
            "add_tags": ["售后", "VIP"],
            "remove_tags": ["vip"],
            "reply": "{客户姓名}您好，问题已解决。——{坐席姓名}",
            "note": "closed by macro {会话编号}",
        },
    )
    async with kernel.db.transaction() as session:
        applied = await apply_macro(session, principal_of(agent), macro.id, conversation)
    assert applied == ["priority", "category_id", "add_tags", "remove_tags", "reply", "note", "status"]
    async with kernel.db.reader() as session:
        row = await get_conversation(session, conversation)
        used = await session.get(Macro, macro.id)
    assert (row.status, row.priority, row.category_id, row.tags) == ("resolved", "high", category, ("售后",))
    sent = await messages(kernel, conversation)
    assert [(m.body, m.is_note, m.author_user_id) for m in sent] == [
        ("李女士您好，问题已解决。——张三", False, agent.id),
        (f"closed by macro {row.number}", True, agent.id),
    ]
    assert used is not None
    assert used.use_count == 1


async def test_a_failing_action_applies_nothing(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    conversation = await new_conversation(kernel)
    async with kernel.db.transaction() as session:
        await change_status(session, conversation, Status.closed, actor=Actor.system("test"))
    # Tags and the reply would work; a closed conversation cannot become resolved.
    macro = await make_macro(kernel, agent, {"add_tags": ["x"], "reply": "hello", "status": "resolved"})
    with pytest.raises(Conflict):
        async with kernel.db.transaction() as session:
            await apply_macro(session, principal_of(agent), macro.id, conversation)
    async with kernel.db.reader() as session:
        row = await get_conversation(session, conversation)
        used = await session.get(Macro, macro.id)
    assert row.tags == ()
    assert row.status == "closed"
    assert await messages(kernel, conversation) == []
    assert used is not None
    assert used.use_count == 0

    unknown_category = await make_macro(kernel, agent, {"priority": "urgent", "category_id": 99999})
    with pytest.raises(InvalidInput):
        async with kernel.db.transaction() as session:
            await apply_macro(session, principal_of(agent), unknown_category.id, conversation)
    async with kernel.db.reader() as session:
        assert (await get_conversation(session, conversation)).priority == "normal"


@pytest.mark.parametrize(
    "actions",
    [
        {},
        {"status": "snoozed"},
        {"status": "nonsense"},
        {"priority": "extreme"},
        {"category_id": "3"},
        {"add_tags": "not a list"},
        {"add_tags": ["x" * 41]},
        {"reply": "{未知变量}"},
        {"launch": "rockets"},
    ],
)
async def test_bad_actions_are_refused(kernel: Kernel, factory: Factory, actions: dict[str, Any]) -> None:
    agent = await factory.user(Role.agent)
    with pytest.raises(InvalidInput):
        await make_macro(kernel, agent, actions)


async def test_macro_permissions(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    colleague = await factory.user(Role.agent)
    supervisor = await factory.user(Role.supervisor)
    with pytest.raises(PermissionDenied):
        await make_macro(kernel, agent, {"priority": "high"}, shared=True)
    shared = await make_macro(kernel, supervisor, {"priority": "high"}, shared=True)
    theirs = await make_macro(kernel, colleague, {"priority": "low"})
    conversation = await new_conversation(kernel)
    async with kernel.db.transaction() as session:
        with pytest.raises(PermissionDenied):
            await replies_service.update_macro(session, principal_of(agent), shared.id, name="x")
        with pytest.raises(NotFound):
            await replies_service.delete_macro(session, principal_of(agent), theirs.id)
        with pytest.raises(NotFound):
            await apply_macro(session, principal_of(agent), theirs.id, conversation)
        assert await apply_macro(session, principal_of(agent), shared.id, conversation) == ["priority"]


async def test_macro_api(client: httpx.AsyncClient, kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    headers = await factory.token(agent)
    created = await client.post(
        "/api/v1/macros",
        json={
            "name": "已解决并致谢",
            "actions": {"reply": "谢谢！", "status": "resolved", "add_tags": ["已解决"]},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    macro = created.json()
    assert macro["actions"] == {"add_tags": ["已解决"], "reply": "谢谢！", "status": "resolved"}
    listed = await client.get("/api/v1/macros", headers=headers)
    assert listed.json() == [{"id": macro["id"], "name": "已解决并致谢", "shared": False}]

    conversation = await new_conversation(kernel)
    applied = await client.post(
        f"/api/v1/macros/{macro['id']}/apply", json={"conversation_id": conversation}, headers=headers
    )
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"conversation_id": conversation, "applied": ["add_tags", "reply", "status"]}
    assert [m.body for m in await messages(kernel, conversation)] == ["谢谢！"]
    async with kernel.db.reader() as session:
        assert (await get_conversation(session, conversation)).status == "resolved"

    renamed = await client.patch(f"/api/v1/macros/{macro['id']}", json={"name": "谢谢"}, headers=headers)
    assert renamed.json()["name"] == "谢谢"
    for bad in (
        {"name": "x", "actions": {}},
        {"name": "x", "actions": {"status": "snoozed"}},
        {"name": "", "actions": {"priority": "low"}},
        {"name": "x", "actions": {"priority": "low", "unknown": 1}},
    ):
        response = await client.post("/api/v1/macros", json=bad, headers=headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    missing = await client.post(
        f"/api/v1/macros/{macro['id']}/apply", json={"conversation_id": 99999}, headers=headers
    )
    assert missing.status_code == 404
    assert (await client.delete(f"/api/v1/macros/{macro['id']}", headers=headers)).status_code == 204
