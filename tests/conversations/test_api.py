"""The agent JSON API: every endpoint's happy path, and bad input answered with 4xx problems."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.accounts.models import User
from kefu.platform.db import utcnow
from kefu.platform.kernel import Kernel
from tests.conversations.support import Made, agent_says, builtin_categories, conversation, customer_says
from tests.factories import Factory

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


async def _agent(factory: Factory, name: str = "王芳", **extra: object) -> tuple[User, dict[str, str]]:
    user = await factory.user(Role.agent, name=name, **extra)  # type: ignore[arg-type]  # test passthrough
    return user, await factory.token(user)


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    return body


async def test_list_counts_and_one_conversation(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    team = await factory.team("售前")
    _user, headers = await _agent(factory, team_ids=[team])
    made = await conversation(kernel, name="刘洋", email="liu@example.com", queue_id=team)
    other = await conversation(kernel, name="陈静")
    listed = (await client.get("/api/v1/conversations", headers=headers)).json()
    assert [c["id"] for c in listed["items"]] == [other.id, made.id]
    assert listed["items"][1]["number"] == f"KF-{10000 + made.id}"
    assert listed["items"][1]["unread"] is True
    mine = (await client.get("/api/v1/conversations", params={"view": "mine"}, headers=headers)).json()
    assert mine["items"] == []
    queue = await client.get(
        "/api/v1/conversations", params={"view": "queue", "queue_id": team}, headers=headers
    )
    assert [c["id"] for c in queue.json()["items"]] == [made.id]
    paged = (await client.get("/api/v1/conversations", params={"limit": 1}, headers=headers)).json()
    assert paged["next_after"] == other.id
    rest = await client.get("/api/v1/conversations", params={"limit": 1, "before": other.id}, headers=headers)
    assert [c["id"] for c in rest.json()["items"]] == [made.id]
    counts = (await client.get("/api/v1/conversations/counts", headers=headers)).json()
    assert counts == {"mine": 0, "unassigned": 2, "all": 2, "queues": {str(team): 1}}
    one = (await client.get(f"/api/v1/conversations/{made.id}", headers=headers)).json()
    assert one["contact"]["email"] == "liu@example.com"
    assert one["status"] == "open"


async def test_reply_note_idempotency_and_history(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    _user, headers = await _agent(factory)
    made = await conversation(kernel)
    url = f"/api/v1/conversations/{made.id}/messages"
    first = await client.post(url, json={"body": "您好！", "client_id": "abc-1"}, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(url, json={"body": "您好！", "client_id": "abc-1"}, headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    note = await client.post(url, json={"body": "内部备注", "is_note": True}, headers=headers)
    assert note.json()["is_note"] is True
    history = (await client.get(url, headers=headers)).json()
    assert [m["seq"] for m in history] == [1, 2, 3]
    assert [m["author_kind"] for m in history] == ["customer", "agent", "agent"]
    after = (await client.get(url, params={"after_seq": 1}, headers=headers)).json()
    assert [m["seq"] for m in after] == [2, 3]
    before = (await client.get(url, params={"before_seq": 3, "limit": 1}, headers=headers)).json()
    assert [m["seq"] for m in before] == [2]


async def test_edit_and_delete_own_message(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user, headers = await _agent(factory)
    _other, other_headers = await _agent(factory, "李雷")
    made = await conversation(kernel)
    message = await agent_says(kernel, made, user, "打错字了")
    url = f"/api/v1/conversations/{made.id}/messages/{message.id}"
    edited = await client.patch(url, json={"body": "改好了"}, headers=headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["body"] == "改好了"
    assert edited.json()["edited_at"] is not None
    _problem(await client.patch(url, json={"body": "别人改"}, headers=other_headers), 403)
    _problem(await client.delete(url, headers=other_headers), 403)
    other_conversation = await conversation(kernel)
    _problem(
        await client.delete(
            f"/api/v1/conversations/{other_conversation.id}/messages/{message.id}", headers=headers
        ),
        404,
    )
    assert (await client.delete(url, headers=headers)).status_code == 204
    _problem(await client.patch(url, json={"body": "again"}, headers=headers), 409)


async def test_status_fields_assign_transfer_and_read(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    team = await factory.team("售后")
    user, headers = await _agent(factory)
    other, _ = await _agent(factory, "李雷")
    made = await conversation(kernel)
    await builtin_categories(kernel)
    base = f"/api/v1/conversations/{made.id}"
    categories = (await client.get("/api/v1/categories", headers=headers)).json()
    assert len(categories) >= 6
    snoozed = await client.post(
        f"{base}/status",
        json={"status": "snoozed", "snoozed_until": (utcnow() + timedelta(hours=2)).isoformat()},
        headers=headers,
    )
    assert snoozed.json()["status"] == "snoozed"
    patched = await client.patch(
        base,
        json={
            "priority": "urgent",
            "category_id": categories[0]["id"],
            "tags": ["退款", " 退款 "],
            "subject": "退款",
        },
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["tags"] == ["退款"]
    assert patched.json()["priority"] == "urgent"
    cleared = await client.patch(base, json={"category_id": 0}, headers=headers)
    assert cleared.json()["category_id"] is None
    assigned = await client.post(f"{base}/assign", json={"assignee_id": user.id}, headers=headers)
    assert assigned.json()["assignee_id"] == user.id
    _problem(
        await client.post(
            f"{base}/assign", json={"assignee_id": other.id, "expect_unassigned": True}, headers=headers
        ),
        409,
    )
    moved = await client.post(
        f"{base}/transfer", json={"to_queue_id": team, "note": "请售后跟进"}, headers=headers
    )
    assert moved.json()["queue_id"] == team
    assert moved.json()["assignee_id"] is None
    assert (await client.post(f"{base}/read", json={"seq": 99}, headers=headers)).status_code == 204
    assert (await client.get(base, headers=headers)).json()["unread"] is False


async def test_attachments_upload_and_download(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    _user, headers = await _agent(factory)
    made = await conversation(kernel)
    url = f"/api/v1/conversations/{made.id}/attachments"
    uploaded = await client.post(
        url, files={"file": ("截图.png", io.BytesIO(PNG), "image/png")}, headers=headers
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert attachment["content_type"] == "image/png"
    assert attachment["is_image"] is True
    sent = await client.post(
        f"/api/v1/conversations/{made.id}/messages",
        json={"attachment_ids": [attachment["id"]]},
        headers=headers,
    )
    assert sent.status_code == 201, sent.text
    assert [a["id"] for a in sent.json()["attachments"]] == [attachment["id"]]
    download = await client.get(attachment["url"], headers=headers)
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-security-policy"] == "sandbox"
    assert download.headers["content-disposition"].startswith("inline")
    text = await client.post(
        url, files={"file": ("a.txt", io.BytesIO(b"hello"), "text/plain")}, headers=headers
    )
    assert (
        (await client.get(text.json()["url"], headers=headers))
        .headers["content-disposition"]
        .startswith("attachment")
    )
    for name, data in (
        ("evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("page.html", b"<!doctype html><script>alert(1)</script>"),
        ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200)),
    ):
        refused = await client.post(
            url, files={"file": (name, io.BytesIO(data), "image/png")}, headers=headers
        )
        _problem(refused, 422)


async def test_notifications(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    author = await factory.user(Role.agent, name="王芳")
    _user, headers = await _agent(factory, "李雷")
    made = await conversation(kernel)
    await agent_says(kernel, made, author, "@李雷 帮忙看下", note=True)
    listed = (await client.get("/api/v1/notifications", headers=headers)).json()
    assert [n["kind"] for n in listed["items"]] == ["mention"]
    assert listed["items"][0]["number"] == f"KF-{10000 + made.id}"
    marked = await client.post("/api/v1/notifications/read", json={}, headers=headers)
    assert marked.json() == {"marked": 1}
    unread = (await client.get("/api/v1/notifications", params={"unread": True}, headers=headers)).json()
    assert unread["items"] == []


async def test_categories_are_managed_by_supervisors_not_agents(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, agent_headers = await _agent(factory)
    supervisor = await factory.user(Role.supervisor)
    headers = await factory.token(supervisor)
    _problem(await client.post("/api/v1/categories", json={"name": "退换货"}, headers=agent_headers), 403)
    created = await client.post("/api/v1/categories", json={"name": "退换货"}, headers=headers)
    assert created.status_code == 201, created.text
    _problem(await client.post("/api/v1/categories", json={"name": "退换货"}, headers=headers), 409)
    category_id = created.json()["id"]
    _problem(
        await client.patch(
            f"/api/v1/categories/{category_id}", json={"is_active": False}, headers=agent_headers
        ),
        403,
    )
    disabled = await client.patch(
        f"/api/v1/categories/{category_id}", json={"is_active": False}, headers=headers
    )
    assert disabled.json()["is_active"] is False
    active = (await client.get("/api/v1/categories", headers=headers)).json()
    assert category_id not in [c["id"] for c in active]
    everything = (
        await client.get("/api/v1/categories", params={"include_inactive": True}, headers=headers)
    ).json()
    assert category_id in [c["id"] for c in everything]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/conversations?view=queue", None, 422),
        ("get", "/api/v1/conversations?view=bogus", None, 422),
        ("get", "/api/v1/conversations?status=nope", None, 422),
        ("get", "/api/v1/conversations?q=%00", None, 422),
        ("get", "/api/v1/conversations/99999999", None, 404),
        ("get", "/api/v1/conversations/0", None, 422),
        ("get", "/api/v1/conversations/{id}/messages?after_seq=-1", None, 422),
        ("post", "/api/v1/conversations/{id}/messages", {"body": ""}, 422),
        ("post", "/api/v1/conversations/{id}/messages", {"body": "x" * 10001}, 422),
        ("post", "/api/v1/conversations/{id}/messages", {"body": "x", "client_id": "no spaces"}, 422),
        ("post", "/api/v1/conversations/{id}/messages", {"body": "x", "attachment_ids": [123456]}, 422),
        ("post", "/api/v1/conversations/{id}/messages", {"body": "x", "extra": 1}, 422),
        ("post", "/api/v1/conversations/99999999/messages", {"body": "x"}, 404),
        ("post", "/api/v1/conversations/{id}/status", {"status": "snoozed"}, 422),
        ("post", "/api/v1/conversations/{id}/status", {"status": "deleted"}, 422),
        ("patch", "/api/v1/conversations/{id}", {"category_id": 99999}, 422),
        ("patch", "/api/v1/conversations/{id}", {"tags": ["x" * 41]}, 422),
        ("patch", "/api/v1/conversations/{id}", {"priority": "asap"}, 422),
        ("post", "/api/v1/conversations/{id}/assign", {"assignee_id": 99999}, 422),
        ("post", "/api/v1/conversations/{id}/assign", {}, 422),
        ("post", "/api/v1/conversations/{id}/transfer", {"note": "nobody"}, 422),
        ("post", "/api/v1/conversations/{id}/read", {"seq": -1}, 422),
        ("get", "/api/v1/attachments/99999", None, 404),
        ("post", "/api/v1/categories", {"name": ""}, 422),
        ("patch", "/api/v1/categories/99999", {"is_active": True}, 404),
    ],
)
async def test_bad_input_is_a_problem_not_a_crash(
    client: httpx.AsyncClient,
    factory: Factory,
    kernel: Kernel,
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: int,
) -> None:
    admin = await factory.user(Role.admin)
    headers = await factory.token(admin)
    made: Made = await conversation(kernel)
    url = path.replace("{id}", str(made.id))
    kwargs: dict[str, object] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    response = await client.request(method.upper(), url, **kwargs)  # type: ignore[arg-type]  # httpx kwargs
    _problem(response, status)


async def test_a_browser_needs_the_csrf_header_and_no_login_is_refused(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    made = await conversation(kernel)
    _problem(await client.get("/api/v1/conversations"), 401)
    user = await factory.user(Role.agent)
    await factory.login(client, user)
    url = f"/api/v1/conversations/{made.id}/messages"
    _problem(await client.post(url, json={"body": "hi"}), 403)
    page = await client.get("/inbox")
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    sent = await client.post(url, json={"body": "hi"}, headers={"X-CSRF-Token": token})
    assert sent.status_code == 201, sent.text
    await customer_says(kernel, made, "谢谢")
