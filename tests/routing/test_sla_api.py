"""The SLA API and pages: permissions, CRUD, problem details on bad input (never a 500), a
conversation's clocks, the admin pages with forms that save and forms that refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kefu.accounts import Role
from kefu.conversations import Channel, Conversation, open_conversation, resolve_contact
from kefu.platform.audit import AuditEntry
from kefu.platform.kernel import Kernel
from kefu.routing import sla
from tests.accounts.support import assert_html, assert_problem
from tests.factories import Factory, post_form
from tests.routing.support import TEST_ACTOR

API = "/api/v1/routing/sla-policies"
PAGES = "/admin/routing/sla"
GOOD = {"name": "标准服务", "first_response_minutes": 30, "resolution_minutes": 480}


async def admin_headers(factory: Factory) -> dict[str, str]:
    return await factory.token(await factory.user(Role.admin))


async def a_conversation(kernel: Kernel, created_at: datetime | None = None) -> int:
    async with kernel.db.transaction() as session:
        contact = await resolve_contact(session, kind="sla-api", value=str(created_at), name="陈静")
        made = await open_conversation(session, channel=Channel.web_chat, contact_id=contact.id)
        if created_at is not None:
            made.created_at = created_at
        return made.id


# -- permissions -----------------------------------------------------------------------------------
WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", API, GOOD),
    ("PATCH", f"{API}/1", {"name": "新名字"}),
    ("DELETE", f"{API}/1", None),
]


async def test_nobody_logged_in_gets_401(client: httpx.AsyncClient) -> None:
    for path in (API, f"{API}/1", "/api/v1/conversations/1/sla"):
        assert_problem(await client.get(path), 401, "not-authenticated")
    for method, path, body in WRITES:
        assert_problem(await client.request(method, path, json=body), 401, "not-authenticated")


@pytest.mark.parametrize("role", [Role.agent, Role.supervisor])
async def test_only_administrators_change_policies(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel, role: Role
) -> None:
    async with kernel.db.transaction() as session:
        await sla.create_policy(session, TEST_ACTOR, **GOOD)
    headers = await factory.token(await factory.user(role))
    listed = await client.get(API, headers=headers)
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()] == ["标准服务"]
    assert (await client.get(f"{API}/1", headers=headers)).status_code == 200
    for method, path, body in WRITES:
        assert_problem(
            await client.request(method, path, json=body, headers=headers), 403, "permission-denied"
        )
    # A token without the admin scope cannot either, even an administrator's.
    admin = await factory.user(Role.admin)
    read_write = await factory.token(admin, ["read", "write"])
    assert_problem(await client.post(API, json=GOOD, headers=read_write), 403, "permission-denied")


# -- CRUD --------------------------------------------------------------------------------------------
async def test_a_policy_is_created_changed_and_deleted(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    headers = await admin_headers(factory)
    created = await client.post(
        API,
        json={
            "name": "VIP 客户",
            "tiers": ["vip"],
            "priorities": ["urgent", "high"],
            "channels": ["web_chat"],
            "first_response_minutes": 2,
            "resolution_minutes": 240,
            "warn_percent": 75,
            "escalation": {"notify_supervisors": True, "raise_priority": True},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["position"] == 0
    assert body["priorities"] == ["high", "urgent"]
    assert body["escalation"] == {"notify_supervisors": True, "raise_priority": True, "reassign": False}
    assert body["next_response_minutes"] is None
    assert body["calendar_id"] is None
    second = (await client.post(API, json=GOOD, headers=headers)).json()
    assert second["position"] == 1  # after the last one

    patched = await client.patch(
        f"{API}/{body['id']}",
        json={"resolution_minutes": None, "next_response_minutes": 5, "is_active": False, "tiers": []},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert changed["resolution_minutes"] is None
    assert changed["next_response_minutes"] == 5
    assert changed["first_response_minutes"] == 2  # not sent: kept
    assert changed["is_active"] is False
    assert changed["tiers"] == []
    listed = (await client.get(API, headers=headers)).json()
    assert [p["name"] for p in listed] == ["VIP 客户", "标准服务"]

    assert (await client.delete(f"{API}/{body['id']}", headers=headers)).status_code == 204
    assert_problem(await client.get(f"{API}/{body['id']}", headers=headers), 404, "not-found")
    assert_problem(await client.delete(f"{API}/{body['id']}", headers=headers), 404, "not-found")
    async with kernel.db.reader() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_type == "sla_policy")
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["sla.policy_created", "sla.policy_created", "sla.policy_changed", "sla.policy_deleted"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOD, "name": ""}, "name"),
        ({**GOOD, "name": "a\x00b"}, "name"),
        ({**GOOD, "first_response_minutes": 0}, "first_response_minutes"),
        ({**GOOD, "resolution_minutes": 10**12}, "resolution_minutes"),
        ({**GOOD, "warn_percent": 100}, "warn_percent"),
        ({**GOOD, "tiers": ["gold"]}, "tiers"),
        ({**GOOD, "tiers": ["Not A Key"]}, "tiers"),
        ({**GOOD, "priorities": ["asap"]}, "priorities"),
        ({**GOOD, "channels": ["fax"]}, "channels"),
        ({**GOOD, "category_ids": [424242]}, "category_ids"),
        ({**GOOD, "calendar_id": 424242}, "calendar_id"),
        ({**GOOD, "escalation": {"fire_everyone": True}}, "escalation"),
        ({"name": "没有目标"}, "first_response_minutes"),
        ({**GOOD, "surprise": 1}, "surprise"),
        ({**GOOD, "position": "first"}, "position"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(await client.post(API, json=body, headers=await admin_headers(factory)), 422)
    assert problem["errors"], problem
    assert any(field in str(error.get("field", "")) for error in problem["errors"]), problem


async def test_a_taken_name_is_a_409_and_patch_checks_too(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = await admin_headers(factory)
    first = (await client.post(API, json=GOOD, headers=headers)).json()
    assert_problem(
        await client.post(API, json={**GOOD, "name": " 标准服务 "}, headers=headers), 409, "conflict"
    )
    other = (await client.post(API, json={**GOOD, "name": "投诉"}, headers=headers)).json()
    assert_problem(
        await client.patch(f"{API}/{other['id']}", json={"name": "标准服务"}, headers=headers), 409
    )
    assert_problem(
        await client.patch(
            f"{API}/{first['id']}",
            json={"first_response_minutes": None, "resolution_minutes": None},
            headers=headers,
        ),
        422,
        "invalid-input",
    )
    assert_problem(
        await client.patch(f"{API}/{first['id']}", json={"warn_percent": -1}, headers=headers), 422
    )
    assert_problem(await client.get(f"{API}/0", headers=headers), 422)


# -- a conversation's clocks -----------------------------------------------------------------------
async def test_a_conversations_sla_shows_each_target(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    headers = await factory.token(await factory.user(Role.agent))
    start = datetime.now(UTC) - timedelta(minutes=40)
    made = await a_conversation(kernel, start)
    none = (await client.get(f"/api/v1/conversations/{made}/sla", headers=headers)).json()
    assert none["policy_id"] is None
    assert none["targets"] == []
    assert none["state"] == ""
    async with kernel.db.transaction() as session:
        await sla.create_policy(
            session, TEST_ACTOR, name="标准服务", first_response_minutes=30, resolution_minutes=120
        )
    async with kernel.db.transaction() as session:
        await sla.sync_clocks(session, made)
    response = await client.get(f"/api/v1/conversations/{made}/sla", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy_name"] == "标准服务"
    assert body["paused"] is False
    first, resolution = body["targets"]
    assert first["target"] == "first_response"
    assert first["state"] == "breached"  # 40 minutes without a reply
    assert -620 < first["remaining_business_seconds"] < -590
    assert resolution["state"] == "running"
    assert 4700 < resolution["remaining_business_seconds"] < 4810
    assert body["due_at"] is not None
    assert_problem(await client.get("/api/v1/conversations/424242/sla", headers=headers), 404, "not-found")
    async with kernel.db.reader() as session:
        assert await session.get(Conversation, made) is not None


# -- pages -----------------------------------------------------------------------------------------
async def test_the_pages_add_edit_and_delete_a_policy(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await factory.login(client, await factory.user(Role.admin))
    html = assert_html(await client.get(PAGES), 200)
    assert "No SLA policies yet" in html
    assert 'href="/admin/routing/sla" aria-current="page"' in html

    refused = await post_form(
        client,
        PAGES,
        {"name": "投诉", "first_response_minutes": "十", "warn_percent": "80", "priorities": "urgent"},
        page=PAGES,
    )
    html = assert_html(refused, 422)
    assert "Enter a whole number." in html
    assert 'value="投诉"' in html  # what was typed comes back
    assert 'value="urgent" checked' in html
    refused = await post_form(client, PAGES, {"name": "投诉", "warn_percent": "80"}, page=PAGES)
    assert "Set at least one target." in assert_html(refused, 422)

    saved = await post_form(
        client,
        PAGES,
        {
            "name": "投诉",
            "is_active": "1",
            "first_response_minutes": "10",
            "resolution_minutes": "480",
            "warn_percent": "80",
            "channels": "web_chat",
            "notify_supervisors": "1",
            "reassign": "1",
        },
        page=PAGES,
    )
    assert saved.status_code == 303, saved.text
    async with kernel.db.reader() as session:
        (made,) = await sla.list_policies(session)
    assert made.first_response_minutes == 10
    assert made.channels == ["web_chat"]
    assert made.escalation == {"notify_supervisors": True, "raise_priority": False, "reassign": True}
    html = assert_html(await client.get(PAGES), 200)
    assert "投诉" in html
    assert "8 h" in html

    edit = f"{PAGES}/{made.id}"
    assert 'value="480"' in assert_html(await client.get(edit), 200)
    refused = await post_form(
        client,
        edit,
        {"name": "投诉", "position": "", "warn_percent": "80", "first_response_minutes": "5"},
        page=edit,
    )
    assert "This field is required." in assert_html(refused, 422)
    refused = await post_form(
        client,
        edit,
        {"name": "投诉", "position": "0", "warn_percent": "150", "first_response_minutes": "5"},
        page=edit,
    )
    assert "Enter a whole number from 0 to 99." in assert_html(refused, 422)
    updated = await post_form(
        client,
        edit,
        {"name": "投诉 VIP", "position": "3", "warn_percent": "50", "first_response_minutes": "5"},
        page=edit,
    )
    assert updated.status_code == 303
    async with kernel.db.reader() as session:
        changed = await sla.get_policy(session, made.id)
    assert (changed.name, changed.position, changed.is_active, changed.resolution_minutes) == (
        "投诉 VIP",
        3,
        False,
        None,
    )
    assert (await post_form(client, f"{edit}/delete", {}, page=edit)).status_code == 303
    assert assert_html(await client.get(edit), 404)


@pytest.mark.parametrize("role", [Role.agent, Role.supervisor])
async def test_others_cannot_open_the_pages(client: httpx.AsyncClient, factory: Factory, role: Role) -> None:
    await factory.login(client, await factory.user(role))
    assert "Permission denied" in assert_html(await client.get(PAGES), 403)
    assert (await post_form(client, PAGES, {"name": "x", "first_response_minutes": "5"})).status_code == 403
