"""The /replies and /replies/macros pages: forms, errors shown on the form, escaping."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from kefu.accounts import Role
from kefu.platform.kernel import Kernel
from kefu.replies import Macro, QuickReply
from tests.factories import Factory, post_form

XSS = '<script>alert("x")</script>'


async def test_create_edit_delete_a_quick_reply_and_bodies_are_escaped(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    await factory.login(client, agent)
    page = await client.get("/replies")
    assert page.status_code == 200
    assert "{客户姓名}" in page.text
    assert "{customer_name}" in page.text
    assert 'name="shared"' not in page.text  # agents cannot share

    created = await post_form(
        client,
        "/replies",
        {
            "shortcut": "xss",
            "title": XSS,
            "body": f"Hi {XSS} {{坐席姓名}}",
            "group_name": "<i>组</i>",
            "kind": "closing",
        },
    )
    assert created.status_code == 303, created.text
    listing = await client.get("/replies")
    assert XSS not in listing.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in listing.text
    assert "&lt;i&gt;组&lt;/i&gt;" in listing.text
    assert "Closing" in listing.text

    async with kernel.db.reader() as session:
        reply = await session.scalar(select(QuickReply).where(QuickReply.owner_id == agent.id))
    assert reply is not None
    assert reply.kind == "closing"
    edit = await client.get(f"/replies/{reply.id}")
    assert edit.status_code == 200
    assert XSS not in edit.text
    updated = await post_form(
        client, f"/replies/{reply.id}", {"shortcut": "xss", "title": "Safe", "body": "ok", "kind": "reply"}
    )
    assert updated.status_code == 303
    deleted = await post_form(client, f"/replies/{reply.id}/delete", {})
    assert deleted.status_code == 303
    async with kernel.db.reader() as session:
        assert await session.get(QuickReply, reply.id) is None


async def test_form_errors_are_shown_on_the_form(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.login(client, await factory.user(Role.agent))
    bad = await post_form(client, "/replies", {"shortcut": "bad shortcut", "title": "t", "body": "{nope}"})
    assert bad.status_code == 422
    assert "field-error" in bad.text
    assert 'value="bad shortcut"' in bad.text  # what was typed comes back
    unknown = await post_form(client, "/replies", {"shortcut": "ok", "title": "t", "body": "{nope}"})
    assert unknown.status_code == 422
    assert "{nope}" in unknown.text
    assert (await client.get("/replies/999999")).status_code == 404


async def test_agents_cannot_open_shared_ones_for_editing(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    supervisor = await factory.user(Role.supervisor)
    await factory.login(client, supervisor)
    shared = await post_form(client, "/replies", {"shortcut": "s", "title": "t", "body": "b", "shared": "1"})
    assert shared.status_code == 303
    async with kernel.db.reader() as session:
        reply = await session.scalar(select(QuickReply).where(QuickReply.owner_id.is_(None)))
    assert reply is not None
    await factory.login(other_client, await factory.user(Role.agent))
    assert (await other_client.get(f"/replies/{reply.id}")).status_code == 403
    assert (await post_form(other_client, f"/replies/{reply.id}/delete", {})).status_code == 403
    listing = await other_client.get("/replies")
    assert "/s" in listing.text
    assert f"/replies/{reply.id}" not in listing.text


async def test_macro_pages(client: httpx.AsyncClient, kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    await factory.login(client, agent)
    assert (await client.get("/replies/macros")).status_code == 200
    created = await post_form(
        client,
        "/replies/macros",
        {"name": XSS, "status": "resolved", "priority": "", "add_tags": "售后， VIP,", "reply": f"bye {XSS}"},
    )
    assert created.status_code == 303, created.text
    async with kernel.db.reader() as session:
        macro = await session.scalar(select(Macro).where(Macro.owner_id == agent.id))
    assert macro is not None
    assert macro.actions == {"add_tags": ["售后", "VIP"], "reply": f"bye {XSS}", "status": "resolved"}
    page = await client.get("/replies/macros")
    assert XSS not in page.text
    assert "&lt;script&gt;" in page.text
    assert (await client.get(f"/replies/macros/{macro.id}")).status_code == 200

    empty = await post_form(client, f"/replies/macros/{macro.id}", {"name": "n"})
    assert empty.status_code == 422
    assert "field-error" in empty.text
    bad_category = await post_form(client, "/replies/macros", {"name": "n", "category_id": "abc"})
    assert bad_category.status_code == 422
    assert (await post_form(client, f"/replies/macros/{macro.id}/delete", {})).status_code == 303
