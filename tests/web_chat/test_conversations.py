"""The visitor REST API: start, list, send, resume, read; only one's own chats, never notes."""

from __future__ import annotations

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.channels.web_chat.limits import SEND_BURST
from kefu.conversations import Author, post_message
from kefu.platform.kernel import Kernel
from tests.factories import Factory
from tests.web_chat.support import auth, make_widget, new_id, session_of, start

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "<svg onload=alert(1)>",
    "[x](javascript:alert(1))",
]


async def test_a_visitor_starts_a_chat_with_the_welcome_text_first(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel, welcome_message="您好，请问有什么可以帮您？")
    token = (await session_of(client, widget))["token"]
    started = await start(client, token, "我想退货")
    messages = started["messages"]
    assert [(m["seq"], m["author_kind"], m["kind"]) for m in messages] == [
        (1, "bot", "welcome"),
        (2, "customer", ""),
    ]
    assert messages[1]["body"] == "我想退货"
    listed = (await client.get("/api/v1/widget/conversations", headers=auth(token))).json()["items"]
    assert [c["id"] for c in listed] == [started["conversation"]["id"]]
    # Starting again while a chat is open continues that chat.
    again = await start(client, token, "还在吗")
    assert again["conversation"]["id"] == started["conversation"]["id"]
    assert [m["seq"] for m in again["messages"]] == [1, 2, 3]


async def test_prechat_values_are_checked_and_fill_the_contact(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    fields = [
        {"name": "name", "label": "称呼", "type": "text", "required": True},
        {"name": "email", "label": "邮箱", "type": "email", "required": False},
        {"name": "topic", "label": "问题", "type": "select", "required": True, "options": ["订单", "售后"]},
    ]
    widget = await make_widget(kernel, prechat_enabled=True, prechat_fields=fields)
    token = (await session_of(client, widget))["token"]
    for prechat, field in (
        ({"topic": "订单"}, "name"),
        ({"name": "李雷", "topic": "订单", "email": "not-an-email"}, "email"),
        ({"name": "李雷", "topic": "别的"}, "topic"),
    ):
        response = await client.post(
            "/api/v1/widget/conversations", json={"prechat": prechat}, headers=auth(token)
        )
        assert response.status_code == 422, prechat
        assert [e["field"] for e in response.json()["errors"]] == [field]
    started = await start(
        client, token, None, prechat={"name": "李雷", "email": "li@example.com", "topic": "售后"}
    )
    async with kernel.db.reader() as session:
        from kefu.conversations import get_conversation

        row = await get_conversation(session, started["conversation"]["id"])
    assert row.contact_name == "李雷"
    assert row.contact_email == "li@example.com"
    assert row.meta["prechat"] == {"topic": "售后"}
    assert row.meta["widget_id"] == widget.id


async def test_sending_twice_with_one_client_id_makes_one_message(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    conversation = (await start(client, token))["conversation"]
    url = f"/api/v1/widget/conversations/{conversation['id']}/messages"
    first = await client.post(url, json={"client_id": "c-1", "body": "在吗"}, headers=auth(token))
    retry = await client.post(url, json={"client_id": "c-1", "body": "在吗"}, headers=auth(token))
    assert first.status_code == retry.status_code == 201
    assert first.json()["created"] is True
    assert retry.json()["created"] is False
    assert retry.json()["message"]["seq"] == first.json()["message"]["seq"]
    items = (await client.get(url, headers=auth(token))).json()["items"]
    assert [m["body"] for m in items] == ["你好", "在吗"]


async def test_resume_after_a_number_and_never_see_notes(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="小王")
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    conversation_id = (await start(client, token))["conversation"]["id"]
    async with kernel.db.transaction() as session:
        await post_message(session, conversation_id, author=Author.agent(agent.id, "小王"), body="您好")
        await post_message(
            session,
            conversation_id,
            author=Author.agent(agent.id, "小王"),
            body="内部：客户是VIP",
            is_note=True,
        )
        await post_message(session, conversation_id, author=Author.agent(agent.id, "小王"), body="请稍等")
    url = f"/api/v1/widget/conversations/{conversation_id}/messages"
    everything = (await client.get(url, headers=auth(token))).json()["items"]
    assert [m["body"] for m in everything] == ["你好", "您好", "请稍等"]
    assert all("is_note" not in m and "author_user_id" not in m for m in everything)
    after = (await client.get(url, params={"after_seq": 2}, headers=auth(token))).json()["items"]
    assert [(m["seq"], m["body"]) for m in after] == [(4, "请稍等")]


async def test_a_visitor_cannot_touch_another_visitors_chat(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel)
    alice = (await session_of(client, widget))["token"]
    bob = (await session_of(client, widget))["token"]
    conversation_id = (await start(client, alice, "我的订单号是 123"))["conversation"]["id"]
    base = f"/api/v1/widget/conversations/{conversation_id}"
    assert (await client.get(f"{base}/messages", headers=auth(bob))).status_code == 404
    sent = await client.post(f"{base}/messages", json={"client_id": "x", "body": "hi"}, headers=auth(bob))
    assert sent.status_code == 404
    assert (await client.post(f"{base}/read", json={"seq": 1}, headers=auth(bob))).status_code == 404
    files = {"file": ("a.txt", b"hello", "text/plain")}
    assert (await client.post(f"{base}/attachments", files=files, headers=auth(bob))).status_code == 404
    assert (await client.get("/api/v1/widget/conversations", headers=auth(bob))).json()["items"] == []
    # And nothing of Bob's attempts reached Alice's chat.
    items = (await client.get(f"{base}/messages", headers=auth(alice))).json()["items"]
    assert [m["body"] for m in items] == ["我的订单号是 123"]


async def test_read_marks_move_forward(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel, welcome_message="hi")
    token = (await session_of(client, widget))["token"]
    conversation_id = (await start(client, token, None))["conversation"]["id"]
    url = f"/api/v1/widget/conversations/{conversation_id}/read"
    assert (await client.post(url, json={"seq": 1}, headers=auth(token))).status_code == 204
    assert (await client.post(url, json={"seq": -1}, headers=auth(token))).status_code == 422
    resumed = await session_of(client, widget, visitor_token=token)
    assert resumed["conversation"]["customer_last_read_seq"] == 1


@pytest.mark.parametrize("payload", XSS)
async def test_markup_is_stored_verbatim_and_returned_as_text(
    client: httpx.AsyncClient, kernel: Kernel, payload: str
) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget, name=payload))["token"]
    conversation_id = (await start(client, token, payload))["conversation"]["id"]
    response = await client.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages", headers=auth(token)
    )
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["items"][0]["body"] == payload


async def test_a_closed_chat_takes_no_new_messages(client: httpx.AsyncClient, kernel: Kernel) -> None:
    from kefu.conversations import Status, change_status
    from kefu.platform.audit import Actor

    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    conversation_id = (await start(client, token, "first", client_id="c-first"))["conversation"]["id"]
    async with kernel.db.transaction() as session:
        await change_status(session, conversation_id, Status.closed, actor=Actor.system("test"))
    url = f"/api/v1/widget/conversations/{conversation_id}/messages"
    late = await client.post(url, json={"client_id": "c-late", "body": "again"}, headers=auth(token))
    assert late.status_code == 409
    retry = await client.post(url, json={"client_id": "c-first", "body": "first"}, headers=auth(token))
    assert retry.status_code == 201
    assert retry.json()["created"] is False
    assert (await session_of(client, widget, visitor_token=token))["conversation"] is None
    fresh = await start(client, token, "new question")
    assert fresh["conversation"]["id"] != conversation_id


async def test_sending_too_fast_is_refused_with_retry_after(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    conversation_id = (await start(client, token, None))["conversation"]["id"]
    url = f"/api/v1/widget/conversations/{conversation_id}/messages"
    statuses = [
        (
            await client.post(url, json={"client_id": new_id(), "body": f"m{n}"}, headers=auth(token))
        ).status_code
        for n in range(SEND_BURST + 1)
    ]
    assert statuses[:SEND_BURST] == [201] * SEND_BURST
    assert statuses[SEND_BURST] == 429
    refused = await client.post(url, json={"client_id": new_id(), "body": "x"}, headers=auth(token))
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["code"] == "rate-limited"
    # Another visitor is not slowed down by the first one.
    other = (await session_of(client, widget))["token"]
    assert (await start(client, other, "hello"))["messages"][0]["body"] == "hello"


async def test_an_offline_message_waits_as_a_conversation(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    missing = await client.post(
        "/api/v1/widget/offline", json={"name": "王五", "body": "请回电"}, headers=auth(token)
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "email"
    left = await client.post(
        "/api/v1/widget/offline",
        json={"name": "王五", "phone": "+86 138 0000 0000", "body": "请回电"},
        headers=auth(token),
    )
    assert left.status_code == 201, left.text
    data = left.json()
    assert data["conversation"]["offline"] is True
    assert data["conversation"]["status"] == "open"
    assert [m["body"] for m in data["messages"]] == ["请回电"]


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": "", "body": "x"},
        {"client_id": "a b", "body": "x"},
        {"client_id": "x" * 65, "body": "x"},
        {"client_id": "ok", "body": "x" * 10_001},
        {"client_id": "ok", "body": "bad\x00byte"},
        {"client_id": "ok", "body": "   "},
        {"client_id": "ok", "body": "x", "attachment_ids": [0]},
        {"client_id": "ok", "body": "x", "attachment_ids": [2**40]},
        {"client_id": "ok", "body": "x", "attachment_ids": [999]},
        {"client_id": "ok", "body": "x", "extra": 1},
    ],
)
async def test_bad_messages_are_4xx(
    client: httpx.AsyncClient, kernel: Kernel, body: dict[str, object]
) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    conversation_id = (await start(client, token, None))["conversation"]["id"]
    url = f"/api/v1/widget/conversations/{conversation_id}/messages"
    response = await client.post(url, json=body, headers=auth(token))
    assert response.status_code == 422, response.text
    for path in ("/api/v1/widget/conversations/0/messages", f"/api/v1/widget/conversations/{2**40}/messages"):
        assert 400 <= (await client.get(path, headers=auth(token))).status_code < 500
