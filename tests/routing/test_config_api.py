"""The routing configuration API: permissions, CRUD, problem details on bad input, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kefu.accounts import Role
from kefu.conversations import resolve_contact
from kefu.platform.kernel import Kernel
from tests.accounts.support import assert_problem
from tests.factories import Factory

API = "/api/v1/routing"


async def admin_headers(factory: Factory) -> dict[str, str]:
    return await factory.token(await factory.user(Role.admin))


async def new_contact(kernel: Kernel) -> int:
    async with kernel.db.transaction() as session:
        contact = await resolve_contact(session, kind="test", value="api-contact", name="陈静")
        return contact.id


# -- permissions -----------------------------------------------------------------------------------
READS = [
    f"{API}/skills",
    f"{API}/agents",
    f"{API}/channels",
    f"{API}/channels/web_chat",
    f"{API}/queues",
    f"{API}/tiers",
]


def writes(team: int, user: int, contact: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", f"{API}/skills", {"name": "English"}),
        ("PATCH", f"{API}/skills/1", {"name": "English"}),
        ("DELETE", f"{API}/skills/1", None),
        ("PUT", f"{API}/agents/{user}", {"skills": {}}),
        ("PUT", f"{API}/channels/web_chat", {"weight": 40}),
        ("PUT", f"{API}/queues/{team}", {"strategy": "round_robin"}),
        ("POST", f"{API}/tiers", {"key": "gold", "name": "Gold"}),
        ("PATCH", f"{API}/tiers/1", {"head_start_seconds": 60}),
        ("DELETE", f"{API}/tiers/1", None),
    ]


async def test_nobody_logged_in_gets_401_problems(client: httpx.AsyncClient) -> None:
    for path in READS:
        assert_problem(await client.get(path), 401, "not-authenticated")
    for method, path, body in [*writes(1, 1, 1), ("PUT", "/api/v1/contacts/1/service", {"tier": "vip"})]:
        assert_problem(await client.request(method, path, json=body), 401, "not-authenticated")


@pytest.mark.parametrize("role", [Role.agent, Role.supervisor])
async def test_only_administrators_change_routing(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel, role: Role
) -> None:
    user = await factory.user(role)
    headers = await factory.token(user)
    team = await factory.team()
    for path in READS:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
    for method, path, body in writes(team, user.id, 1):
        assert_problem(
            await client.request(method, path, json=body, headers=headers), 403, "permission-denied"
        )
    # The contact's service is an agent's job.
    contact = await new_contact(kernel)
    response = await client.put(
        f"/api/v1/contacts/{contact}/service",
        json={"tier": "vip", "dedicated_agent_id": user.id},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"contact_id": contact, "tier": "vip", "dedicated_agent_id": user.id}


async def test_an_admin_token_without_the_admin_scope_cannot_change_routing(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.user(Role.admin)
    headers = await factory.token(admin, scopes=["read", "write"])
    assert (await client.get(f"{API}/skills", headers=headers)).status_code == 200
    response = await client.post(f"{API}/skills", json={"name": "English"}, headers=headers)
    assert_problem(response, 403, "permission-denied")


# -- CRUD ------------------------------------------------------------------------------------------
async def test_skills_crud(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    created = await client.post(
        f"{API}/skills", json={"name": "英语", "kind": "language", "description": "海外客户"}, headers=headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["kind"], body["description"]) == ("英语", "language", "海外客户")
    skill_id = body["id"]
    assert [s["id"] for s in (await client.get(f"{API}/skills", headers=headers)).json()] == [skill_id]
    changed = await client.patch(f"{API}/skills/{skill_id}", json={"name": "英语 English"}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "英语 English"
    assert changed.json()["kind"] == "language"
    duplicate = await client.post(f"{API}/skills", json={"name": "英语 english"}, headers=headers)
    assert_problem(duplicate, 409, "conflict")
    assert (await client.delete(f"{API}/skills/{skill_id}", headers=headers)).status_code == 204
    assert_problem(await client.get(f"{API}/skills/{skill_id}", headers=headers), 404, "not-found")
    assert_problem(await client.delete(f"{API}/skills/{skill_id}", headers=headers), 404, "not-found")


async def test_agent_skills_and_capacity(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    agent = await factory.user(Role.agent, name="李四")
    english = (await client.post(f"{API}/skills", json={"name": "English"}, headers=headers)).json()["id"]
    saved = await client.put(
        f"{API}/agents/{agent.id}",
        json={"skills": {str(english): 4}, "capacity": {"web_chat": 2, "phone": None}},
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["skills"] == [{"skill_id": english, "name": "English", "level": 4}]
    assert body["capacity_overrides"] == {"web_chat": 2}
    assert body["capacity"] == {"web_chat": 2, "email": 10, "form": 10, "phone": 1, "wechat": 3, "api": 3}
    # A part left out is kept.
    kept = await client.put(f"{API}/agents/{agent.id}", json={"capacity": {}}, headers=headers)
    assert kept.json()["skills"] == body["skills"]
    assert kept.json()["capacity_overrides"] == {}
    assert (await client.get(f"{API}/agents/{agent.id}", headers=headers)).json() == kept.json()
    listed = (await client.get(f"{API}/agents", headers=headers)).json()
    assert "李四" in [a["name"] for a in listed]
    assert_problem(await client.get(f"{API}/agents/{agent.id + 100}", headers=headers), 404)
    missing = await client.put(f"{API}/agents/{agent.id + 100}", json={"skills": {}}, headers=headers)
    assert_problem(missing, 404)


async def test_channels(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    listed = (await client.get(f"{API}/channels", headers=headers)).json()
    assert listed[0] == {"channel": "web_chat", "default_capacity": 3, "weight": 30}
    changed = await client.put(
        f"{API}/channels/email", json={"default_capacity": 20, "weight": 5}, headers=headers
    )
    assert changed.json() == {"channel": "email", "default_capacity": 20, "weight": 5}
    assert (await client.get(f"{API}/channels/email", headers=headers)).json()["weight"] == 5
    assert_problem(await client.get(f"{API}/channels/fax", headers=headers), 422)


async def test_queues(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    presales = await factory.team("售前")
    aftersales = await factory.team("售后")
    english = (await client.post(f"{API}/skills", json={"name": "English"}, headers=headers)).json()["id"]
    fresh = (await client.get(f"{API}/queues/{presales}", headers=headers)).json()
    assert fresh["customized"] is False
    assert (fresh["strategy"], fresh["sticky_seconds"], fresh["after_hours"]) == (
        "least_busy",
        60,
        "offline_message",
    )
    saved = await client.put(
        f"{API}/queues/{presales}",
        json={
            "strategy": "round_robin",
            "required_skills": {str(english): 2},
            "overflow_team_id": aftersales,
            "overflow_after_seconds": 120,
            "sticky_seconds": 90,
        },
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["team_name"] == "售前"
    assert body["required_skills"] == [{"skill_id": english, "min_level": 2}]
    assert (body["overflow_team_id"], body["overflow_after_seconds"], body["sticky_seconds"]) == (
        aftersales,
        120,
        90,
    )
    assert body["customized"] is True
    listed = (await client.get(f"{API}/queues", headers=headers)).json()
    assert [q["team_name"] for q in listed] == ["售前", "售后"]
    assert_problem(await client.get(f"{API}/queues/{aftersales + 100}", headers=headers), 404)


async def test_tiers_crud(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    team = await factory.team("VIP 专席")
    seeded = (await client.get(f"{API}/tiers", headers=headers)).json()
    assert [(t["key"], t["is_default"]) for t in seeded] == [
        ("vip", False),
        ("key", False),
        ("regular", True),
    ]
    created = await client.post(
        f"{API}/tiers",
        json={"key": "gold", "name": "金卡", "head_start_seconds": 600, "dedicated_team_id": team},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    gold = created.json()
    assert (gold["position"], gold["dedicated_team_id"], gold["is_default"]) == (3, team, False)
    kept = await client.patch(f"{API}/tiers/{gold['id']}", json={"name": "金卡客户"}, headers=headers)
    assert (kept.json()["name"], kept.json()["dedicated_team_id"]) == ("金卡客户", team)
    cleared = await client.patch(
        f"{API}/tiers/{gold['id']}", json={"dedicated_team_id": None}, headers=headers
    )
    assert cleared.json()["dedicated_team_id"] is None
    default = await client.patch(f"{API}/tiers/{gold['id']}", json={"is_default": True}, headers=headers)
    assert default.json()["is_default"] is True
    assert_problem(await client.delete(f"{API}/tiers/{gold['id']}", headers=headers), 409, "conflict")
    regular = seeded[2]["id"]
    assert (await client.delete(f"{API}/tiers/{regular}", headers=headers)).status_code == 204
    assert [t["key"] for t in (await client.get(f"{API}/tiers", headers=headers)).json()] == [
        "vip",
        "key",
        "gold",
    ]


async def test_a_contacts_service(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    agent = await factory.user(Role.agent)
    headers = await factory.token(agent)
    contact = await new_contact(kernel)
    path = f"/api/v1/contacts/{contact}/service"
    bad_tier = await client.put(path, json={"tier": "gold"}, headers=headers)
    assert assert_problem(bad_tier, 422, "invalid-input")["errors"][0]["field"] == "tier"
    bad_agent = await client.put(path, json={"dedicated_agent_id": agent.id + 100}, headers=headers)
    assert assert_problem(bad_agent, 422, "invalid-input")["errors"][0]["field"] == "dedicated_agent_id"
    assert_problem(
        await client.put(f"/api/v1/contacts/{contact + 100}/service", json={}, headers=headers), 404
    )
    cleared = await client.put(path, json={}, headers=headers)
    assert cleared.json() == {"contact_id": contact, "tier": None, "dedicated_agent_id": None}


# -- bad input -----------------------------------------------------------------------------------------
BAD_BODIES: list[tuple[str, str, Any]] = [
    ("POST", "/skills", {}),
    ("POST", "/skills", {"name": ""}),
    ("POST", "/skills", {"name": "x" * 61}),
    ("POST", "/skills", {"name": "a\u0000b"}),
    ("POST", "/skills", {"name": "ok", "kind": "magic"}),
    ("POST", "/skills", {"name": "ok", "extra": 1}),
    ("POST", "/skills", {"name": "   "}),
    ("PATCH", "/skills/{skill}", {"name": ""}),
    ("PUT", "/agents/{user}", {"skills": {"{skill}": 6}}),
    ("PUT", "/agents/{user}", {"skills": {"{skill}": 0}}),
    ("PUT", "/agents/{user}", {"skills": {"abc": 1}}),
    ("PUT", "/agents/{user}", {"skills": {"99999": 1}}),
    ("PUT", "/agents/{user}", {"skills": {"0": 1}}),
    ("PUT", "/agents/{user}", {"capacity": {"web_chat": 51}}),
    ("PUT", "/agents/{user}", {"capacity": {"fax": 1}}),
    ("PUT", "/agents/{user}", {"skills": [1, 2]}),
    ("PUT", "/channels/web_chat", {"weight": 0}),
    ("PUT", "/channels/web_chat", {"weight": 101}),
    ("PUT", "/channels/web_chat", {"default_capacity": -1}),
    ("PUT", "/channels/web_chat", {"default_capacity": 1.5}),
    ("PUT", "/queues/{team}", {"strategy": "random"}),
    ("PUT", "/queues/{team}", {"overflow_team_id": "{team}", "overflow_after_seconds": 10}),
    ("PUT", "/queues/{team}", {"overflow_team_id": "{other}"}),
    ("PUT", "/queues/{team}", {"overflow_team_id": 99999, "overflow_after_seconds": 10}),
    ("PUT", "/queues/{team}", {"overflow_team_id": "{other}", "overflow_after_seconds": 86401}),
    ("PUT", "/queues/{team}", {"sticky_seconds": -1}),
    ("PUT", "/queues/{team}", {"after_hours": "overflow"}),
    ("PUT", "/queues/{team}", {"after_hours": "overflow", "after_hours_team_id": "{team}"}),
    ("PUT", "/queues/{team}", {"calendar_id": 99999}),
    ("PUT", "/queues/{team}", {"required_skills": {"99999": 2}}),
    ("PUT", "/queues/{team}", {"required_skills": {"{skill}": 9}}),
    ("POST", "/tiers", {"key": "Gold", "name": "Gold"}),
    ("POST", "/tiers", {"key": "", "name": "Gold"}),
    ("POST", "/tiers", {"key": "gold", "name": "Gold", "head_start_seconds": 86401}),
    ("POST", "/tiers", {"key": "gold", "name": "Gold", "head_start_seconds": -3601}),
    ("POST", "/tiers", {"key": "gold", "name": "Gold", "dedicated_team_id": 99999}),
    ("POST", "/tiers", {"key": "gold", "name": "Gold", "position": -1}),
    ("PATCH", "/tiers/{tier}", {"key": "no spaces"}),
    ("PATCH", "/tiers/{tier}", {"head_start_seconds": "soon"}),
]


def _fill(value: Any, names: dict[str, int]) -> Any:
    if isinstance(value, str):
        for name, number in names.items():
            if value == "{" + name + "}":
                return number
            value = value.replace("{" + name + "}", str(number))
        return value
    if isinstance(value, dict):
        return {_fill(k, names) if isinstance(k, str) else k: _fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "path", "body"), BAD_BODIES, ids=[f"{m} {p} {b}" for m, p, b in BAD_BODIES]
)
async def test_bad_input_is_a_422_problem(
    client: httpx.AsyncClient, factory: Factory, method: str, path: str, body: Any
) -> None:
    headers = await admin_headers(factory)
    agent = await factory.user(Role.agent)
    names = {
        "team": await factory.team(),
        "other": await factory.team(),
        "user": agent.id,
        "skill": (await client.post(f"{API}/skills", json={"name": "English"}, headers=headers)).json()["id"],
        "tier": (await client.get(f"{API}/tiers", headers=headers)).json()[0]["id"],
    }
    filled = _fill(body, names)
    # JSON object keys are strings.
    if isinstance(filled, dict):
        filled = {
            k: ({str(kk): vv for kk, vv in v.items()} if isinstance(v, dict) else v)
            for k, v in filled.items()
        }
    response = await client.request(method, API + _fill(path, names), json=filled, headers=headers)
    assert_problem(response, 422, "invalid-input")


async def test_no_odd_request_is_a_server_error(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    team = await factory.team()
    odd_bodies: list[Any] = [
        None,
        [],
        "x",
        1,
        {"": None},
        {"name": None},
        {"skills": {"1": None}},
        {"x" * 300: 1},
    ]
    routes = [
        ("POST", f"{API}/skills"),
        ("PATCH", f"{API}/skills/1"),
        ("PUT", f"{API}/agents/1"),
        ("PUT", f"{API}/channels/email"),
        ("PUT", f"{API}/queues/{team}"),
        ("POST", f"{API}/tiers"),
        ("PATCH", f"{API}/tiers/1"),
        ("PUT", "/api/v1/contacts/1/service"),
        ("GET", f"{API}/skills/99999999999"),
        ("GET", f"{API}/queues/0"),
        ("GET", f"{API}/agents/-1"),
    ]
    for method, path in routes:
        for body in odd_bodies:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code < 500, (method, path, body, response.text)
