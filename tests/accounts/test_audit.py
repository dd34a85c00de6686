"""The audit log records who did what from where: logins, user and team changes, tokens, passwords."""

from __future__ import annotations

import httpx

from kefu.accounts.access import Role
from kefu.accounts.service import IP_FAILURE_FACTOR
from kefu.platform.kernel import Kernel
from kefu.settings import Settings
from tests.accounts.support import CLIENT_IP, NEW_PASSWORD, audit, csrf_headers, token_ids
from tests.factories import PASSWORD, Factory, csrf_token, post_form


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    token = await csrf_token(client, "/login")
    return await client.post("/login", data={"email": email, "password": password, "csrf_token": token})


async def test_logins_are_audited_with_the_address(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent, name="Wang Fang", email="fang@example.com")
    assert (await _login(client, "fang@example.com", PASSWORD)).status_code == 303
    assert (await _login(client, "FANG@example.com", "wrong-password")).status_code == 422
    assert (await _login(client, "ghost@example.com", "whatever")).status_code == 422

    [succeeded] = await audit(kernel, "login.succeeded")
    assert (succeeded.actor_kind, succeeded.actor_id, succeeded.ip) == ("user", user.id, CLIENT_IP)
    assert (succeeded.target_type, succeeded.target_id) == ("user", str(user.id))
    assert "fang@example.com" in succeeded.actor_label

    ghost, wrong = await audit(kernel, "login.failed")
    assert (wrong.actor_kind, wrong.actor_id, wrong.ip) == ("anonymous", None, CLIENT_IP)
    assert (wrong.target_id, wrong.target_label) == (str(user.id), "fang@example.com")
    assert (ghost.target_id, ghost.target_label, ghost.ip) == (None, "ghost@example.com", CLIENT_IP)
    for entry in (succeeded, wrong, ghost):
        assert "wrong-password" not in str(entry.details)
        assert PASSWORD not in str(entry.details)
        assert entry.request_id


async def test_a_lockout_is_audited(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel, settings: Settings
) -> None:
    user = await factory.user(Role.agent)
    for _ in range(settings.login_max_failures):
        await _login(client, user.email, "wrong-password")
    assert (await _login(client, user.email, PASSWORD)).status_code == 429
    [locked] = await audit(kernel, "login.locked")
    assert locked.ip == CLIENT_IP
    assert locked.target_id == f"account:{user.email}"
    assert locked.details["failures"] == settings.login_max_failures
    assert len(await audit(kernel, "login.failed")) == settings.login_max_failures
    assert await audit(kernel, "login.succeeded") == []


async def test_user_changes_are_audited_with_actor_and_address(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    admin = await factory.user(Role.admin, name="Boss", email="boss@example.com")
    await factory.login(client, admin)
    created = await post_form(
        client, "/admin/users", {"email": "li@example.com", "name": "Li", "role": "agent"}
    )
    user_id = int(created.headers["location"].rsplit("/", 1)[1])
    await post_form(
        client,
        f"/admin/users/{user_id}",
        {"email": "li@example.com", "name": "Li Na", "role": "supervisor", "is_active": "1"},
    )
    headers = await factory.token(admin)
    await client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=headers)
    await client.patch(
        f"/api/v1/users/{user_id}", json={"name": "Li Na"}, headers=headers
    )  # no change, no entry

    [made] = await audit(kernel, "user.created", actor_id=admin.id)
    assert (made.actor_kind, made.ip, made.target_id) == ("user", CLIENT_IP, str(user_id))
    assert made.actor_label == "Boss <boss@example.com>"
    assert made.details["role"] == "agent"
    deactivated, edited = await audit(kernel, "user.changed", target_id=str(user_id))
    assert (edited.actor_kind, edited.actor_id, edited.ip) == ("user", admin.id, CLIENT_IP)
    assert edited.details["changes"] == {"name": "Li Na", "role": "supervisor"}
    assert (deactivated.actor_kind, deactivated.actor_id, deactivated.ip) == ("token", admin.id, CLIENT_IP)
    assert deactivated.details["changes"] == {"is_active": False}


async def test_team_changes_are_audited(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    admin = await factory.user(Role.supervisor, name="Lead")
    member = await factory.user(Role.agent)
    headers = await factory.token(admin)
    team = (await client.post("/api/v1/teams", json={"name": "Sales"}, headers=headers)).json()
    await client.patch(f"/api/v1/teams/{team['id']}", json={"name": "Sales East"}, headers=headers)
    await client.put(f"/api/v1/teams/{team['id']}/members", json={"user_ids": [member.id]}, headers=headers)
    await client.delete(f"/api/v1/teams/{team['id']}", headers=headers)

    entries = await audit(kernel, "team.", target_id=str(team["id"]))
    assert [e.action for e in entries] == ["team.deleted", "team.changed", "team.changed", "team.created"]
    for entry in entries:
        assert (entry.actor_kind, entry.actor_id, entry.ip, entry.target_type) == (
            "token",
            admin.id,
            CLIENT_IP,
            "team",
        )
    assert entries[0].target_label == "Sales East"
    assert entries[1].details["changes"] == {"member_ids": [member.id]}
    assert entries[2].details["changes"] == {"name": "Sales East"}


async def test_token_creation_and_revocation_are_audited(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent, name="Scripter")
    await factory.login(client, user)
    headers = await csrf_headers(client)
    created = await client.post(
        "/api/v1/tokens", json={"name": "Nightly export", "scopes": ["read"]}, headers=headers
    )
    assert created.status_code == 201
    raw = created.json()["token"]
    token_id = created.json()["id"]
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=headers)).status_code == 204
    await client.delete(f"/api/v1/tokens/{token_id}", headers=headers)  # already revoked: no second entry

    [made] = await audit(kernel, "token.created")
    assert (made.actor_kind, made.actor_id, made.ip) == ("user", user.id, CLIENT_IP)
    assert (made.target_type, made.target_id, made.target_label) == ("token", str(token_id), "Nightly export")
    assert made.details["scopes"] == ["read"]
    assert raw not in str(made.details)
    [revoked] = await audit(kernel, "token.revoked")
    assert (revoked.actor_id, revoked.ip, revoked.target_id) == (user.id, CLIENT_IP, str(token_id))
    assert token_id in await token_ids(kernel, user.id)


async def test_password_changes_and_resets_are_audited(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(client, user)
    response = await post_form(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert response.status_code == 303
    admin = await factory.user(Role.admin)
    reset = await client.put(
        f"/api/v1/users/{user.id}/password",
        json={"password": "third-secret-here"},
        headers=await factory.token(admin),
    )
    assert reset.status_code == 204

    [changed] = await audit(kernel, "user.password_changed")
    assert (changed.actor_kind, changed.actor_id, changed.ip, changed.target_id) == (
        "user",
        user.id,
        CLIENT_IP,
        str(user.id),
    )
    [by_admin] = await audit(kernel, "user.password_reset")
    assert (by_admin.actor_kind, by_admin.actor_id, by_admin.ip, by_admin.target_id) == (
        "token",
        admin.id,
        CLIENT_IP,
        str(user.id),
    )
    for entry in (changed, by_admin):
        assert NEW_PASSWORD not in str(entry.details)
        assert "third-secret-here" not in str(entry.details)


async def test_session_endings_are_audited(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    await factory.login(client, user)
    await post_form(client, "/account/logout-everywhere", {})
    [everywhere] = await audit(kernel, "user.logged_out_everywhere")
    assert (everywhere.actor_id, everywhere.ip, everywhere.details["sessions"]) == (user.id, CLIENT_IP, 2)
    await factory.login(client, user)
    await post_form(client, "/logout", {})
    [logout] = await audit(kernel, "logout")
    assert (logout.actor_id, logout.ip) == (user.id, CLIENT_IP)


async def test_the_audit_api_shows_account_events_to_admins(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    headers = await factory.token(admin)
    page = (await client.get("/api/v1/audit", params={"action": "login."}, headers=headers)).json()
    assert [(e["action"], e["actor_id"], e["ip"]) for e in page["items"]] == [
        ("login.succeeded", admin.id, CLIENT_IP)
    ]
    html = (await client.get("/admin/audit")).text
    assert "login.succeeded" in html
    assert CLIENT_IP in html


async def test_an_address_lockout_is_audited_and_holds_for_every_account(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel, settings: Settings
) -> None:
    user = await factory.user(Role.agent)
    limit = (
        settings.login_max_failures * IP_FAILURE_FACTOR
    )  # an office address gets more tries than one account
    for n in range(limit):
        assert (await _login(client, f"guess{n}@example.com", "wrong-password")).status_code == 422
    assert (await _login(client, user.email, PASSWORD)).status_code == 429
    [locked] = await audit(kernel, "login.locked")
    assert (locked.target_id, locked.ip) == (f"ip:{CLIENT_IP}", CLIENT_IP)
    assert await audit(kernel, "login.succeeded") == []
