"""API tokens: scopes narrow a role, tokens cannot grow stronger, and dead tokens stay dead."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.platform.db import utcnow
from kefu.platform.kernel import Kernel
from tests.accounts.support import (
    assert_problem,
    browser_login,
    session_ids,
    set_token_expiry,
    token_ids,
)
from tests.factories import Factory, csrf_token

# Writes of every kind a token could attempt; {user}, {team} and {token} are filled in.
WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PATCH", "/api/v1/me", {"name": "Changed"}),
    ("POST", "/api/v1/me/password", {"current_password": "x" * 8, "new_password": "y" * 12}),
    ("POST", "/api/v1/users", {"email": "w@example.com", "name": "W", "role": "agent"}),
    ("PATCH", "/api/v1/users/{user}", {"name": "Changed"}),
    ("PUT", "/api/v1/users/{user}/password", {"password": "another-long-secret"}),
    ("POST", "/api/v1/users/{user}/logout-everywhere", None),
    ("POST", "/api/v1/teams", {"name": "Team W"}),
    ("PATCH", "/api/v1/teams/{team}", {"name": "Changed"}),
    ("PUT", "/api/v1/teams/{team}/members", {"user_ids": []}),
    ("DELETE", "/api/v1/teams/{team}", None),
    ("PATCH", "/api/v1/settings", {"name": "Changed"}),
    ("POST", "/api/v1/tokens", {"name": "More", "scopes": ["read"]}),
    ("DELETE", "/api/v1/tokens/{token}", None),
]
READS = [
    "/api/v1/me",
    "/api/v1/users",
    "/api/v1/users/{user}",
    "/api/v1/teams",
    "/api/v1/teams/{team}",
    "/api/v1/roles",
    "/api/v1/tokens",
]
# The same writes through HTML forms: a token works there too, and must be held to its scopes.
FORM_WRITES = [
    ("/account/profile", {"name": "Changed"}),
    (
        "/account/password",
        {"current_password": "x" * 8, "new_password": "y" * 12, "confirm_password": "y" * 12},
    ),
    ("/account/tokens", {"name": "More", "scopes": "read"}),
    ("/account/tokens/{token}/revoke", {}),
    ("/account/logout-everywhere", {}),
    ("/account/sessions/{session}/revoke", {}),
    ("/admin/teams", {"name": "Team W"}),
]


async def _setup(
    factory: Factory, kernel: Kernel, scopes: list[str]
) -> tuple[dict[str, str], dict[str, int]]:
    admin = await factory.user(Role.admin)
    other = await factory.user(Role.agent)
    team = await factory.team(member_ids=[other.id])
    headers = await factory.token(admin, scopes=scopes)
    await factory.token(admin, scopes=["read"])
    ids = {"user": other.id, "team": team, "token": (await token_ids(kernel, admin.id))[-1], "session": 1}
    return headers, ids


async def test_a_read_only_token_can_read_but_not_write(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    headers, ids = await _setup(factory, kernel, ["read"])
    for path in READS:
        response = await client.get(path.format(**ids), headers=headers)
        assert response.status_code == 200, (path, response.text)
    for method, path, body in WRITES:
        response = await client.request(method, path.format(**ids), json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.status_code)
        assert_problem(response, 403, "permission-denied")
    # Nothing was written.
    assert len((await client.get("/api/v1/teams", headers=headers)).json()) == 1
    assert [t["revoked_at"] for t in (await client.get("/api/v1/tokens", headers=headers)).json()] == [
        None,
        None,
    ]


async def test_a_read_only_token_cannot_write_through_the_html_forms(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await browser_login(factory, client, Role.admin, name="Unchanged")
    headers = await factory.token(user, scopes=["read"])
    sessions = await session_ids(kernel, user.id)
    tokens = await token_ids(kernel, user.id)
    for path, data in FORM_WRITES:
        url = path.format(token=tokens[0], session=sessions[0])
        response = await other_client.post(url, data=data, headers=headers)  # no cookies, no CSRF token
        assert response.status_code == 403, (path, response.status_code, response.text[:300])
    assert await session_ids(kernel, user.id) == sessions
    me = (await client.get("/api/v1/tokens", headers=headers)).json()
    assert [t["revoked_at"] for t in me] == [None] * len(tokens)
    assert (await client.get("/api/v1/me", headers=headers)).json()["name"] == "Unchanged"
    assert (await client.get("/api/v1/teams", headers=headers)).json() == []


async def test_a_read_only_token_cannot_change_the_language_of_its_user(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent, locale="zh_CN")
    headers = await factory.token(user, scopes=["read"])
    response = await client.post("/lang", data={"locale": "en"}, headers=headers)
    assert response.status_code in (303, 403)
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["locale"] == "zh_CN"


async def test_a_write_token_of_an_admin_cannot_manage_users_settings_or_read_the_audit_log(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    headers, ids = await _setup(factory, kernel, ["read", "write"])
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 200
    assert (await client.post("/api/v1/teams", json={"name": "T"}, headers=headers)).status_code == 201
    for method, path, body in [
        ("POST", "/api/v1/users", {"email": "w@example.com", "name": "W", "role": "agent"}),
        ("PATCH", "/api/v1/users/{user}", {"role": "admin"}),
        ("PUT", "/api/v1/users/{user}/password", {"password": "another-long-secret"}),
        ("POST", "/api/v1/users/{user}/logout-everywhere", None),
        ("PATCH", "/api/v1/settings", {"name": "X"}),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/jobs", None),
    ]:
        response = await client.request(method, path.format(**ids), json=body, headers=headers)
        assert_problem(response, 403, "permission-denied")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert sorted(me["scopes"]) == ["read", "write"]
    assert "users.manage" not in me["permissions"]
    assert "users.view" in me["permissions"]


@pytest.mark.parametrize(
    ("held", "wanted", "status"),
    [
        (["read", "write"], ["admin"], 403),
        (["read", "write"], ["read", "write", "admin"], 403),
        (["write"], ["read"], 403),
        (["write"], ["write"], 201),
        (["read", "write"], ["read"], 201),
        (["read", "write", "admin"], ["admin"], 201),
    ],
)
async def test_a_token_cannot_mint_a_stronger_token(
    client: httpx.AsyncClient, factory: Factory, held: list[str], wanted: list[str], status: int
) -> None:
    admin = await factory.user(Role.admin)
    headers = await factory.token(admin, scopes=held)
    response = await client.post("/api/v1/tokens", json={"name": "Child", "scopes": wanted}, headers=headers)
    if status == 403:
        assert_problem(response, 403, "permission-denied")
    else:
        assert response.status_code == 201, response.text
        assert sorted(response.json()["scopes"]) == sorted(wanted)


@pytest.mark.parametrize("role", [Role.agent, Role.supervisor])
async def test_a_role_cannot_grant_the_admin_scope(
    client: httpx.AsyncClient, factory: Factory, role: Role
) -> None:
    user = await browser_login(factory, client, role)
    token = await csrf_token(client)
    api = await client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["admin"]}, headers={"X-CSRF-Token": token}
    )
    assert_problem(api, 403, "permission-denied")
    form = await client.post("/account/tokens", data={"name": "x", "scopes": "admin", "csrf_token": token})
    assert form.status_code == 422
    assert "cannot grant" in form.text
    assert not (await client.get("/api/v1/tokens")).json()
    assert user.role == role.value


async def test_a_new_token_is_shown_once_and_stored_only_as_a_hash(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await browser_login(factory, client, Role.agent)
    token = await csrf_token(client)
    page = await client.post(
        "/account/tokens", data={"name": "Script", "scopes": ["read", "write"], "csrf_token": token}
    )
    assert page.status_code == 200
    created = (await client.get("/api/v1/tokens")).json()
    assert len(created) == 1
    assert created[0]["scopes"] == ["read", "write"]
    raw = page.text.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert raw.startswith("kefu_")
    assert raw.startswith(created[0]["prefix"])
    assert raw not in (await client.get("/account")).text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200
    assert me.json()["scopes"] == ["read", "write"]


async def test_a_revoked_token_gets_401(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    user = await factory.user(Role.agent)
    headers = await factory.token(user)
    spare = await factory.token(user)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    token_id = (await token_ids(kernel, user.id))[0]
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=spare)).status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=headers), 401, "not-authenticated")
    assert (await client.get("/api/v1/me", headers=spare)).status_code == 200
    listed = (await client.get("/api/v1/tokens", headers=spare)).json()
    assert [t["revoked_at"] is not None for t in sorted(listed, key=lambda t: t["id"])] == [True, False]


async def test_a_token_can_revoke_itself(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    user = await factory.user(Role.agent)
    headers = await factory.token(user)
    token_id = (await token_ids(kernel, user.id))[0]
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=headers)).status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=headers), 401)


async def test_a_token_of_someone_else_cannot_be_revoked(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    owner = await factory.user(Role.agent)
    owner_headers = await factory.token(owner)
    admin = await factory.user(Role.admin)
    admin_headers = await factory.token(admin)
    token_id = (await token_ids(kernel, owner.id))[0]
    assert_problem(await client.delete(f"/api/v1/tokens/{token_id}", headers=admin_headers), 404)
    assert (await client.get("/api/v1/me", headers=owner_headers)).status_code == 200


async def test_an_expired_token_gets_401(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    user = await factory.user(Role.agent)
    headers = await factory.token(user)
    token_id = (await token_ids(kernel, user.id))[0]
    await set_token_expiry(kernel, token_id, utcnow() + timedelta(minutes=5))
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    await set_token_expiry(kernel, token_id, utcnow() - timedelta(seconds=1))
    assert_problem(await client.get("/api/v1/me", headers=headers), 401, "not-authenticated")


async def test_a_token_with_an_expiry_says_when(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user(Role.agent)
    headers = await factory.token(user)
    response = await client.post(
        "/api/v1/tokens", json={"name": "Week", "scopes": ["read"], "expires_days": 7}, headers=headers
    )
    assert response.status_code == 201
    created = response.json()
    assert created["expires_at"] is not None
    for bad in (0, -1, 3651, "soon", 2**40):
        response = await client.post(
            "/api/v1/tokens", json={"name": "Bad", "scopes": ["read"], "expires_days": bad}, headers=headers
        )
        assert_problem(response, 422, "invalid-input")


MALFORMED = [
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Token kefu_abc",
    "kefu_abc",
    "Bearer not-a-kefu-token",
    "Bearer kefu_",
    "Bearer kefu_" + "A" * 43,
    "Bearer kefu_" + "A" * 5000,
    "Bearer kefu_abc kefu_def",
]


async def test_a_malformed_or_unknown_authorization_header_gets_401(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.admin)
    await factory.login(client, user)  # a valid session cookie must not rescue the request
    for header in MALFORMED:
        for method, path in [("GET", "/api/v1/me"), ("POST", "/api/v1/teams"), ("GET", "/account")]:
            response = await client.request(
                method, path, json={"name": "T"}, headers={"Authorization": header}
            )
            if path.startswith("/api/"):
                assert response.status_code == 401, (header[:30], path, response.status_code)
                assert_problem(response, 401, "not-authenticated")
            else:  # a page: off to the login page, as for anybody not logged in
                assert response.status_code == 303, (header[:30], path, response.status_code)
                assert response.headers["location"].startswith("/login?next=")
    assert (await client.get("/api/v1/teams")).json() == []


async def test_the_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user(Role.agent)
    headers = await factory.token(user)
    raw = headers["Authorization"].split(" ", 1)[1]
    response = await client.get("/api/v1/me", headers={"Authorization": f"bearer {raw}"})
    assert response.status_code == 200


async def test_a_request_with_a_token_ignores_cookies_and_needs_no_csrf_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await browser_login(factory, client, Role.admin, name="The Admin")
    agent = await factory.user(Role.agent, name="The Agent")
    headers = await factory.token(agent)
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["id"] == agent.id
    assert me["scopes"] == ["read", "write"]
    # The admin's cookie rides along but does not count: the agent may not create users.
    denied = await client.post(
        "/api/v1/users", json={"email": "x@example.com", "name": "X", "role": "agent"}, headers=headers
    )
    assert_problem(denied, 403, "permission-denied")
    # No CSRF token anywhere, yet the write goes through, as the agent.
    changed = await client.patch("/api/v1/me", json={"name": "Renamed Agent"}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["id"] == agent.id
    form = await client.post("/account/profile", data={"name": "Agent Via Form"}, headers=headers)
    assert form.status_code == 303
    assert (await client.get("/api/v1/me", headers=headers)).json()["name"] == "Agent Via Form"
    # The cookie alone is still the admin's.
    assert (await client.get("/api/v1/me")).json()["id"] == admin.id


async def test_a_cookie_request_needs_the_csrf_token_for_a_write(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await browser_login(factory, client, Role.admin)
    response = await client.post("/api/v1/teams", json={"name": "T"})
    assert_problem(response, 403, "csrf-failed")
    forged = await client.post("/api/v1/teams", json={"name": "T"}, headers={"X-CSRF-Token": "forged"})
    assert_problem(forged, 403, "csrf-failed")
    ok = await client.post(
        "/api/v1/teams", json={"name": "T"}, headers={"X-CSRF-Token": await csrf_token(client)}
    )
    assert ok.status_code == 201


async def test_token_use_is_noted(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user(Role.agent)
    headers = await factory.token(user)
    listed = (await client.get("/api/v1/tokens", headers=headers)).json()
    assert listed[0]["last_used_at"] is not None


async def test_the_token_form_says_what_is_wrong(client: httpx.AsyncClient, factory: Factory) -> None:
    await browser_login(factory, client, Role.agent)
    token = await csrf_token(client)
    for data, message in [
        ({"name": "No scope"}, "Choose at least one scope."),
        ({"name": "Odd scope", "scopes": "root"}, "Unknown scope."),
        ({"name": "", "scopes": "read"}, "This field is required."),
        (
            {"name": "Too long", "scopes": "read", "expires_days": "4000"},
            "Expiry must be between 1 and 3650 days.",
        ),
        ({"name": "Never", "scopes": "read", "expires_days": "0"}, "Expiry must be between 1 and 3650 days."),
        ({"name": "Past", "scopes": "read", "expires_days": "-5"}, "Expiry must be between 1 and 3650 days."),
        (
            {"name": "Soon", "scopes": "read", "expires_days": "soon"},
            "Expiry must be between 1 and 3650 days.",
        ),
        (
            {"name": "Huge", "scopes": "read", "expires_days": "9" * 30},
            "Expiry must be between 1 and 3650 days.",
        ),
    ]:
        response = await client.post("/account/tokens", data={**data, "csrf_token": token})
        assert response.status_code == 422, data
        assert message in response.text, data
    assert (await client.get("/api/v1/tokens")).json() == []
    blank = await client.post(
        "/account/tokens",
        data={"name": "Forever", "scopes": "read", "expires_days": " ", "csrf_token": token},
    )
    assert blank.status_code == 200
    assert [t["expires_at"] for t in (await client.get("/api/v1/tokens")).json()] == [None]
