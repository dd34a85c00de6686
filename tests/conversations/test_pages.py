"""The workspace pages: inbox, filters, the conversation view (escaped), forms, categories."""

from __future__ import annotations

import re

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.conversations.rules import Priority
from kefu.platform.kernel import Kernel
from tests.conversations.support import agent_says, builtin_categories, conversation, customer_says, load
from tests.factories import Factory, post_form

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "<svg onload=alert(1)>",
]
NEVER = ["<script>alert", "<img src=x", "<svg onload", 'href="javascript:', "onerror=alert(1)>"]


def _rows(html: str) -> list[str]:
    return re.findall(r'class="ws-number">(KF-\d+)<', html.split('id="ws-rows"', 1)[1])


async def test_the_inbox_shows_views_counts_and_rows(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    team = await factory.team("售前咨询")
    agent = await factory.user(Role.agent, name="王芳", team_ids=[team])
    waiting = await conversation(kernel, name="刘洋", queue_id=team, first="请问有优惠吗？")
    mine = await conversation(kernel, name="陈静", priority=Priority.urgent)
    await factory.login(client, agent)
    await post_form(client, f"/inbox/conversations/{mine.id}/assign", {"assignee_id": "me"}, page="/inbox")
    page = await client.get("/inbox")
    assert page.status_code == 200
    html = page.text
    assert "/static/workspace.js" in html
    assert "/static/workspace.css" in html
    assert 'data-count="mine">1<' in html
    assert 'data-count="unassigned">1<' in html
    assert f'data-count="queue:{team}">1<' in html
    assert "售前咨询" in html
    assert _rows(html) == [f"KF-{10000 + mine.id}"]  # "Mine" is the default view
    unassigned = (await client.get("/inbox", params={"view": "unassigned"})).text
    assert _rows(unassigned) == [f"KF-{10000 + waiting.id}"]
    assert "刘洋" in unassigned
    assert "请问有优惠吗？" in unassigned
    assert "unread-dot" in unassigned
    queue = (await client.get("/inbox", params={"view": "queue", "queue_id": team})).text
    assert _rows(queue) == [f"KF-{10000 + waiting.id}"]
    partial = await client.get("/inbox/list", params={"view": "all"})
    assert "<html" not in partial.text
    assert len(_rows(partial.text)) == 2
    counts = await client.get("/inbox/counts")
    assert 'id="ws-views"' in counts.text
    assert "<html" not in counts.text


async def test_filters_and_search(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    agent = await factory.user(Role.agent)
    a = await conversation(kernel, name="刘洋", email="liuyang@example.com", first="发票怎么开？")
    b = await conversation(kernel, name="陈静", phone="13900001111", priority=Priority.high)
    await factory.login(client, agent)
    await post_form(client, f"/inbox/conversations/{a.id}/fields", {"tags": "发票, VIP"}, page="/inbox")
    await post_form(client, f"/inbox/conversations/{b.id}/status", {"status": "resolved"}, page="/inbox")

    async def numbers(**params: str) -> list[str]:
        response = await client.get("/inbox", params={"view": "all", **params})
        assert response.status_code == 200
        return _rows(response.text)

    na, nb = f"KF-{10000 + a.id}", f"KF-{10000 + b.id}"
    assert await numbers() == [na]  # resolved ones are not active
    assert set(await numbers(status="any")) == {na, nb}
    assert await numbers(status="resolved") == [nb]
    assert await numbers(q=nb, status="any") == [nb]
    assert await numbers(q="liuyang") == [na]
    assert await numbers(q="13900001111", status="any") == [nb]
    assert await numbers(q="发票") == [na]
    assert await numbers(tag="vip") == [na]
    assert await numbers(priority="high", status="any") == [nb]
    assert await numbers(channel="email") == []
    # Nonsense in the URL is ignored, never an error.
    for params in (
        {"status": "zzz"},
        {"queue_id": "abc", "view": "queue"},
        {"category_id": "-1"},
        {"q": "\x00%_"},
    ):
        assert (await client.get("/inbox", params=params)).status_code == 200


async def test_the_conversation_page_shows_everything_escaped(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    payload = " ".join(XSS)
    agent = await factory.user(Role.agent, name="<img src=x onerror=alert(1)>王芳")
    made = await conversation(
        kernel,
        name="<script>alert(1)</script>",
        email="a@example.com",
        first=payload,
        attributes={"<svg onload=alert(1)>": "javascript:alert(1)"},
    )
    await customer_says(kernel, made, "<svg onload=alert(1)>")
    await agent_says(kernel, made, agent, payload)
    await agent_says(kernel, made, agent, "内部: " + payload, note=True)
    await factory.login(client, agent)
    await post_form(client, f"/inbox/conversations/{made.id}/fields", {"tags": XSS[1]}, page="/inbox")
    pages = [
        await client.get(f"/inbox/conversations/{made.id}"),
        await client.get(f"/inbox/conversations/{made.id}/messages", params={"after_seq": 0}),
        await client.get(f"/inbox/conversations/{made.id}/header"),
        await client.get("/inbox", params={"view": "all"}),
    ]
    for response in pages:
        assert response.status_code == 200
        for bad in NEVER:
            assert bad not in response.text, (response.url, bad)
    html = pages[0].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;svg onload=alert(1)&gt;" in html
    assert "javascript:alert(1)" in html  # as text only
    assert "msg-note" in html
    assert "Internal note" in html


async def test_history_shows_notes_system_lines_and_edits(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    agent = await factory.user(Role.agent, name="王芳")
    other = await factory.user(Role.agent, name="李雷")
    made = await conversation(kernel)
    mine = await agent_says(kernel, made, agent, "第一版")
    theirs = await agent_says(kernel, made, other, "别人的话")
    await factory.login(client, agent)
    base = f"/inbox/conversations/{made.id}"
    edited = await post_form(client, f"{base}/messages/{mine.id}/edit", {"body": "第二版"}, page=base)
    assert edited.status_code == 303
    refused = await post_form(client, f"{base}/messages/{theirs.id}/delete", {}, page=base)
    assert refused.status_code == 303  # back to the page with an error message, not a 500
    page = await client.get(base)
    assert "You can only change your own messages." in page.text
    assert "第二版" in page.text
    assert "edited" in page.text
    await post_form(client, f"{base}/transfer", {"to_user_id": str(other.id), "note": "请接手"}, page=base)
    page = (await client.get(base)).text
    assert "Conversation transferred" in page
    assert "Transfer note" in page
    assert "请接手" in page
    assert (await load(kernel, made.id)).assignee_id == other.id
    await post_form(client, f"{base}/messages/{mine.id}/delete", {}, page=base)
    assert "This message was deleted." in (await client.get(base)).text


async def test_forms_change_the_conversation_and_refuse_bad_input(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await builtin_categories(kernel)
    agent = await factory.user(Role.agent, name="王芳")
    made = await conversation(kernel)
    await factory.login(client, agent)
    base = f"/inbox/conversations/{made.id}"
    reply = await post_form(client, f"{base}/reply", {"body": "您好，请问有什么可以帮您？"}, page=base)
    assert reply.status_code == 303
    note = await post_form(client, f"{base}/reply", {"body": "备注", "is_note": "1"}, page=base)
    assert note.status_code == 303
    page = (await client.get(base)).text
    assert "您好，请问有什么可以帮您？" in page
    assert "msg-note" in page
    await post_form(client, f"{base}/status", {"status": "pending"}, page=base)
    assert (await load(kernel, made.id)).status == "pending"
    await post_form(client, f"{base}/status", {"status": "snoozed", "snooze": "4h"}, page=base)
    assert (await load(kernel, made.id)).snoozed_until is not None
    category = re.search(r'<option value="(\d+)">Complaint', page)
    assert category is not None
    await post_form(
        client, f"{base}/fields", {"priority": "high", "category_id": category.group(1)}, page=base
    )
    found = await load(kernel, made.id)
    assert found.priority == "high"
    assert found.category_id == int(category.group(1))
    for path, data in (
        ("reply", {"body": "   "}),
        ("status", {"status": "deleted"}),
        ("status", {"status": "snoozed"}),
        ("fields", {"tags": "x" * 50}),
        ("assign", {"assignee_id": "abc"}),
        ("assign", {"assignee_id": "999999"}),
        ("transfer", {"note": "to nobody"}),
    ):
        response = await post_form(client, f"{base}/{path}", data, page=base)
        assert response.status_code == 303, (path, response.text)
        shown = await client.get(base)
        assert "flash-error" in shown.text, (path, data)
    assert (await client.get("/inbox/conversations/99999999")).status_code == 404
    assert (await client.get("/inbox/conversations/99999999999")).status_code == 404


async def test_notifications_page(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    author = await factory.user(Role.agent, name="王芳")
    me = await factory.user(Role.agent, name="李雷")
    made = await conversation(kernel)
    await agent_says(kernel, made, author, "@李雷 看一下 <b>这里</b>", note=True)
    await factory.login(client, me)
    page = await client.get("/inbox/notifications")
    assert page.status_code == 200
    assert "&lt;b&gt;这里&lt;/b&gt;" in page.text
    assert 'class="unread"' in page.text
    await post_form(client, "/inbox/notifications/read", {}, page="/inbox/notifications")
    assert 'class="unread"' not in (await client.get("/inbox/notifications")).text


async def test_categories_admin_page(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    await factory.login(other_client, agent)
    assert (await other_client.get("/admin/categories")).status_code == 403
    supervisor = await factory.user(Role.supervisor)
    await factory.login(client, supervisor)
    added = await post_form(client, "/admin/categories", {"name": "<b>退换货</b>"}, page="/admin/categories")
    assert added.status_code == 303
    page = (await client.get("/admin/categories")).text
    assert "&lt;b&gt;退换货&lt;/b&gt;" in page
    duplicate = await post_form(
        client, "/admin/categories", {"name": "<b>退换货</b>"}, page="/admin/categories"
    )
    assert duplicate.status_code == 422
    assert "already exists" in duplicate.text
    empty = await post_form(client, "/admin/categories", {"name": "  "}, page="/admin/categories")
    assert empty.status_code == 422
    assert "field-error" in empty.text
    category_id = re.findall(r'action="/admin/categories/(\d+)/active"', page)[-1]
    await post_form(client, f"/admin/categories/{category_id}/active", {}, page="/admin/categories")
    assert "Disabled" in (await client.get("/admin/categories")).text
    missing = await post_form(
        client, "/admin/categories/99999/active", {"active": "1"}, page="/admin/categories"
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("path", ["/inbox", "/inbox/notifications"])
async def test_pages_need_a_login(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
