"""Users and teams, through the JSON API and through the HTML forms (CSRF, Post/Redirect/Get)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from kefu.accounts import service
from kefu.accounts.access import Role
from kefu.accounts.models import User
from kefu.platform.audit import Actor
from kefu.platform.errors import Conflict
from kefu.platform.kernel import Kernel
from tests.accounts.support import assert_html, assert_problem
from tests.factories import PASSWORD, Factory, csrf_from, post_form


async def _admin_api(factory: Factory) -> tuple[User, dict[str, str]]:
    admin = await factory.user(Role.admin, email="boss@example.com", name="Boss")
    return admin, await factory.token(admin)


def _names(html: str) -> set[str]:
    """User names in the users table."""
    table = html.split('id="users-table"', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r'<td>(?:<a href="/admin/users/\d+">)?([^<]+)(?:</a>)?</td>\s*<td>[^<]*@', table))


# -- users through the API ---------------------------------------------------------------------------
async def test_create_read_and_change_a_user(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = await _admin_api(factory)
    team = await factory.team("Billing")
    created = await client.post(
        "/api/v1/users",
        json={
            "email": "  Li.Lei@Example.COM ",
            "name": "  Li   Lei ",
            "role": "supervisor",
            "password": "a-good-long-password",
            "team_ids": [team],
            "locale": "zh_CN",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "li.lei@example.com"
    assert user["name"] == "Li Lei"
    assert user["role"] == "supervisor"
    assert user["team_ids"] == [team]
    assert user["locale"] == "zh_CN"
    assert user["is_active"] is True
    assert "password" not in user
    assert "password_hash" not in user
    fetched = await client.get(f"/api/v1/users/{user['id']}", headers=headers)
    assert fetched.json() == user

    changed = await client.patch(
        f"/api/v1/users/{user['id']}",
        json={"name": "Li Lei (Billing)", "role": "agent", "team_ids": [], "email": "lilei@example.com"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() | {"name": "x"} == user | {
        "name": "x",
        "role": "agent",
        "team_ids": [],
        "email": "lilei@example.com",
    }
    assert changed.json()["name"] == "Li Lei (Billing)"
    nothing = await client.patch(f"/api/v1/users/{user['id']}", json={}, headers=headers)
    assert nothing.json() == changed.json()


async def test_a_user_created_without_a_password_cannot_log_in(
    client: httpx.AsyncClient, factory: Factory, other_client: httpx.AsyncClient
) -> None:
    _, headers = await _admin_api(factory)
    created = await client.post(
        "/api/v1/users",
        json={"email": "nopw@example.com", "name": "No Password", "role": "agent"},
        headers=headers,
    )
    assert created.status_code == 201
    token = csrf_from((await other_client.get("/login")).text)
    for password in ("", "anything-at-all", PASSWORD):
        response = await other_client.post(
            "/login", data={"email": "nopw@example.com", "password": password, "csrf_token": token}
        )
        assert response.status_code == 422


API_FILTERS: list[tuple[dict[str, str], set[str]]] = [
    ({}, {"Boss", "Alice Wang", "Bob Li", "Carol Chen", "Dan Inactive"}),
    ({"q": "alice"}, {"Alice Wang"}),
    ({"q": "ALICE"}, {"Alice Wang"}),
    ({"q": "wAnG"}, {"Alice Wang"}),
    ({"q": "alice wang"}, {"Alice Wang"}),  # only the name has the space: no help from the email
    ({"q": "CAROL CHEN"}, {"Carol Chen"}),
    ({"q": "bob.li@"}, {"Bob Li"}),
    ({"q": "BOB.LI@EXAMPLE"}, {"Bob Li"}),
    ({"q": "%"}, set()),
    ({"q": "_"}, set()),
    ({"role": "agent"}, {"Alice Wang", "Bob Li", "Dan Inactive"}),
    ({"role": "supervisor"}, {"Carol Chen"}),
    ({"team_id": "{sales}"}, {"Alice Wang", "Carol Chen"}),
    ({"team_id": "{sales}", "role": "agent"}, {"Alice Wang"}),
    ({"active": "false"}, {"Dan Inactive"}),
    ({"active": "true", "role": "agent"}, {"Alice Wang", "Bob Li"}),
    ({"q": "li", "active": "true"}, {"Bob Li", "Alice Wang"}),  # "alice" contains "li"
]


async def _directory(factory: Factory) -> int:
    """Four more users beside the admin (one deactivated), two of them in the team Sales."""
    sales = await factory.team("Sales")
    await factory.user(Role.agent, name="Alice Wang", email="alice.wang@example.com", team_ids=[sales])
    await factory.user(Role.agent, name="Bob Li", email="bob.li@example.com")
    await factory.user(Role.supervisor, name="Carol Chen", email="carol@example.com", team_ids=[sales])
    dan = await factory.user(Role.agent, name="Dan Inactive", email="dan@example.com")
    async with factory.kernel.db.transaction() as session:
        await service.update_user(session, Actor.system(), dan.id, is_active=False)
    return sales


async def test_the_user_list_filters(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = await _admin_api(factory)
    sales = await _directory(factory)
    for query, expected in API_FILTERS:
        params = {key: value.format(sales=sales) for key, value in query.items()}
        response = await client.get("/api/v1/users", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert {u["name"] for u in response.json()["items"]} == expected, query


async def test_the_user_list_pages(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = await _admin_api(factory)
    for n in range(4):
        await factory.user(Role.agent, name=f"Pager {n}")
    seen: list[int] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"after": after} if after else {})
        page = (await client.get("/api/v1/users", params=params, headers=headers)).json()
        seen += [u["id"] for u in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen)


async def test_a_duplicate_email_is_a_conflict_whatever_its_case(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, headers = await _admin_api(factory)
    other = await factory.user(Role.agent)
    for email in ["boss@example.com", "BOSS@example.com", " Boss@Example.Com "]:
        response = await client.post(
            "/api/v1/users", json={"email": email, "name": "Copy", "role": "agent"}, headers=headers
        )
        body = assert_problem(response, 409, "conflict")
        assert "already exists" in body["detail"]
        changed = await client.patch(f"/api/v1/users/{other.id}", json={"email": email}, headers=headers)
        assert_problem(changed, 409, "conflict")
    assert len((await client.get("/api/v1/users", headers=headers)).json()["items"]) == 2


async def test_changing_only_the_case_of_ones_email_is_no_conflict(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin, headers = await _admin_api(factory)
    response = await client.patch(
        f"/api/v1/users/{admin.id}", json={"email": "BOSS@example.com"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["email"] == "boss@example.com"


INVALID_EMAILS = [
    "not-an-email",
    "a@b",
    "@example.com",
    "user@",
    "user@@example.com",
    "user example@x.com",
    "a" * 250,
]


async def test_an_invalid_email_is_422_with_an_errors_list(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin, headers = await _admin_api(factory)
    for email in INVALID_EMAILS:
        response = await client.post(
            "/api/v1/users", json={"email": email, "name": "X", "role": "agent"}, headers=headers
        )
        body = assert_problem(response, 422, "invalid-input")
        assert isinstance(body["errors"], list)
        assert any("email" in str(e["field"]) for e in body["errors"]), (email, body["errors"])
        changed = await client.patch(f"/api/v1/users/{admin.id}", json={"email": email}, headers=headers)
        body = assert_problem(changed, 422, "invalid-input")
        assert any("email" in str(e["field"]) for e in body["errors"]), (email, body["errors"])
    assert len((await client.get("/api/v1/users", headers=headers)).json()["items"]) == 1


async def test_an_admin_cannot_deactivate_or_demote_themself(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin, headers = await _admin_api(factory)
    await factory.user(Role.admin)  # another admin: the refusal is about "yourself"
    for change in ({"is_active": False}, {"role": "agent"}, {"role": "supervisor"}):
        response = await client.patch(f"/api/v1/users/{admin.id}", json=change, headers=headers)
        assert_problem(response, 409, "conflict")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["role"] == "admin"
    assert me["is_active"] is True


async def test_an_admin_can_demote_and_deactivate_another_admin(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, headers = await _admin_api(factory)
    second = await factory.user(Role.admin)
    third = await factory.user(Role.admin)
    demoted = await client.patch(f"/api/v1/users/{second.id}", json={"role": "agent"}, headers=headers)
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "agent"
    gone = await client.patch(f"/api/v1/users/{third.id}", json={"is_active": False}, headers=headers)
    assert gone.status_code == 200
    assert gone.json()["is_active"] is False


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    factory: Factory, kernel: Kernel
) -> None:
    """Checked in the service (no administrator can reach it over HTTP: changing oneself is refused first)."""

    async def change(user_id: int, **values: Any) -> User:
        async with kernel.db.transaction() as session:
            return await service.update_user(session, Actor.system(), user_id, **values)

    last = await factory.user(Role.admin)
    changes: list[dict[str, Any]] = [{"role": "agent"}, {"role": "supervisor"}, {"is_active": False}]
    for others in ("none", "an active agent", "an inactive admin"):
        if others == "an active agent":
            await factory.user(Role.agent)
        elif others == "an inactive admin":
            await change((await factory.user(Role.admin)).id, is_active=False)
        for values in changes:
            with pytest.raises(Conflict, match="at least one active administrator"):
                await change(last.id, **values)
    second = await factory.user(Role.admin)
    assert (await change(last.id, role="supervisor")).role == Role.supervisor
    for values in changes:  # now the second one is the last
        with pytest.raises(Conflict, match="at least one active administrator"):
            await change(second.id, **values)
    assert (await change(last.id, role="admin")).role == Role.admin
    assert (await change(second.id, is_active=False)).is_active is False


# -- users through the HTML forms -------------------------------------------------------------------
async def _admin_browser(client: httpx.AsyncClient, factory: Factory) -> User:
    admin = await factory.user(Role.admin, email="boss@example.com", name="Boss")
    await factory.login(client, admin)
    return admin


async def test_create_and_edit_a_user_with_the_forms(client: httpx.AsyncClient, factory: Factory) -> None:
    await _admin_browser(client, factory)
    team = await factory.team("Support")
    form = assert_html(await client.get("/admin/users/new"), 200)
    assert 'name="csrf_token"' in form
    created = await post_form(
        client,
        "/admin/users",
        {
            "email": "Mei@Example.com",
            "name": "Han Mei",
            "role": "agent",
            "team_ids": [str(team)],
            "password": "",
        },
    )
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert re.fullmatch(r"/admin/users/\d+", location)
    page = assert_html(await client.get(location), 200)
    assert "The user Han Mei was created." in page
    assert 'value="mei@example.com"' in page
    assert assert_html(await client.get(location), 200).count("was created") == 0  # the flash shows once
    user_id = int(location.rsplit("/", 1)[1])

    edited = await post_form(
        client,
        location,
        {"email": "han.mei@example.com", "name": "Han Mei", "role": "supervisor", "is_active": "1"},
    )
    assert edited.status_code == 303
    assert edited.headers["location"] == location
    assert "Saved." in (await client.get(location)).text
    user = (await client.get(f"/api/v1/users/{user_id}")).json()
    assert user["email"] == "han.mei@example.com"
    assert user["role"] == "supervisor"
    assert user["team_ids"] == []  # no team box was ticked
    assert user["is_active"] is True
    listing = assert_html(await client.get("/admin/users"), 200)
    assert "Han Mei" in listing


NEW_USER_REFUSALS: list[tuple[dict[str, str], str]] = [
    ({}, "Enter a valid email address."),
    ({"email": "x@example.com"}, "This field is required."),
    ({"email": "x@example.com", "name": "X"}, "Choose a role."),
    ({"email": "nope", "name": "X", "role": "agent"}, "Enter a valid email address."),
    ({"email": "BOSS@example.com", "name": "X", "role": "agent"}, "A user with this email already exists."),
    ({"email": "x@example.com", "name": "X", "role": "king"}, "Choose a role."),
    ({"email": "x@example.com", "name": "X" * 150, "role": "agent"}, "Keep this under 100 characters."),
    ({"email": "x@example.com", "name": "X", "role": "agent", "password": "short"}, "at least 8"),
    ({"email": "x@example.com", "name": "X", "role": "agent", "team_ids": "999999"}, "teams does not exist"),
]


async def test_the_new_user_form_re_renders_with_messages(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await _admin_browser(client, factory)
    for data, message in NEW_USER_REFUSALS:
        html = assert_html(await post_form(client, "/admin/users", data), 422)
        assert message in html, data
        if data.get("email"):
            assert f'value="{data["email"]}"' in html  # what was typed is kept
    users = (await client.get("/api/v1/users", params={"active": "true"})).json()["items"]
    assert [u["email"] for u in users] == ["boss@example.com"]


async def test_the_edit_form_refuses_a_duplicate_email_and_self_deactivation(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await _admin_browser(client, factory)
    other = await factory.user(Role.agent, email="other@example.com", name="Other")
    duplicate = await post_form(
        client,
        f"/admin/users/{other.id}",
        {"email": "Boss@Example.com", "name": "Other", "role": "agent", "is_active": "1"},
    )
    assert "A user with this email already exists." in assert_html(duplicate, 422)
    myself = await post_form(
        client, f"/admin/users/{admin.id}", {"email": admin.email, "name": admin.name, "role": "admin"}
    )
    assert "You cannot deactivate yourself." in assert_html(myself, 422)
    demote = await post_form(
        client,
        f"/admin/users/{admin.id}",
        {"email": admin.email, "name": admin.name, "role": "agent", "is_active": "1"},
    )
    assert "You cannot change your own role." in assert_html(demote, 422)
    me = (await client.get("/api/v1/me")).json()
    assert (me["role"], me["is_active"]) == ("admin", True)


PAGE_FILTERS: list[tuple[str, set[str]]] = [
    ("", {"Boss", "Alice Wang", "Bob Li", "Carol Chen"}),
    ("?status=active", {"Boss", "Alice Wang", "Bob Li", "Carol Chen"}),
    ("?status=inactive", {"Dan Inactive"}),
    ("?status=all", {"Boss", "Alice Wang", "Bob Li", "Carol Chen", "Dan Inactive"}),
    ("?q=alice", {"Alice Wang"}),
    ("?q=ALICE+WANG", {"Alice Wang"}),
    ("?q=carol%40", {"Carol Chen"}),
    ("?role=supervisor", {"Carol Chen"}),
    ("?role=agent&status=all", {"Alice Wang", "Bob Li", "Dan Inactive"}),
    ("?team={sales}", {"Alice Wang", "Carol Chen"}),
    ("?team={sales}&role=agent", {"Alice Wang"}),
    ("?role=nonsense&team=abc&status=weird", {"Boss", "Alice Wang", "Bob Li", "Carol Chen", "Dan Inactive"}),
]


async def test_the_users_page_filters(client: httpx.AsyncClient, factory: Factory) -> None:
    await _admin_browser(client, factory)
    sales = await _directory(factory)
    for query, expected in PAGE_FILTERS:
        url = "/admin/users" + query.format(sales=sales)
        assert _names(assert_html(await client.get(url), 200)) == expected, query
        partial = assert_html(await client.get(url, headers={"HX-Request": "true"}), 200)
        assert "<html" not in partial
        assert _names(partial) == expected, query
    # The back button (htmx history restore) needs the whole page, not the fragment.
    restored = await client.get(
        "/admin/users", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in assert_html(restored, 200)


# -- teams through the API ---------------------------------------------------------------------------
async def test_team_crud_and_membership_through_the_api(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = await _admin_api(factory)
    a = await factory.user(Role.agent, name="Agent A")
    b = await factory.user(Role.agent, name="Agent B")
    created = await client.post(
        "/api/v1/teams",
        json={"name": " VIP   care ", "description": "  Top customers\nonly ", "member_ids": [a.id]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    team = created.json()
    assert (team["name"], team["description"], team["member_ids"]) == (
        "VIP care",
        "Top customers\nonly",
        [a.id],
    )
    assert (await client.get(f"/api/v1/teams/{team['id']}", headers=headers)).json() == team
    assert [t["id"] for t in (await client.get("/api/v1/teams", headers=headers)).json()] == [team["id"]]

    renamed = await client.patch(
        f"/api/v1/teams/{team['id']}", json={"name": "VIP", "description": ""}, headers=headers
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["description"]) == ("VIP", "")

    members = await client.put(
        f"/api/v1/teams/{team['id']}/members", json={"user_ids": [b.id, a.id, b.id]}, headers=headers
    )
    assert members.status_code == 200
    assert sorted(members.json()["member_ids"]) == sorted([a.id, b.id])
    assert (await client.get(f"/api/v1/users/{b.id}", headers=headers)).json()["team_ids"] == [team["id"]]

    # Membership set from the user's side shows on the team.
    assert (
        await client.patch(f"/api/v1/users/{a.id}", json={"team_ids": []}, headers=headers)
    ).status_code == 200
    assert (await client.get(f"/api/v1/teams/{team['id']}", headers=headers)).json()["member_ids"] == [b.id]

    unknown = await client.put(
        f"/api/v1/teams/{team['id']}/members", json={"user_ids": [a.id, 999_999]}, headers=headers
    )
    assert_problem(unknown, 422, "invalid-input")
    assert (await client.get(f"/api/v1/teams/{team['id']}", headers=headers)).json()["member_ids"] == [b.id]

    deleted = await client.delete(f"/api/v1/teams/{team['id']}", headers=headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/api/v1/teams/{team['id']}", headers=headers), 404, "not-found")
    assert_problem(await client.delete(f"/api/v1/teams/{team['id']}", headers=headers), 404, "not-found")
    for user in (a, b):
        kept = await client.get(f"/api/v1/users/{user.id}", headers=headers)
        assert kept.status_code == 200
        assert kept.json()["team_ids"] == []
        assert kept.json()["is_active"] is True


async def test_a_duplicate_team_name_is_a_conflict_whatever_its_case(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, headers = await _admin_api(factory)
    await factory.team("Sales")
    other = await factory.team("Other")
    for name in ["Sales", "sales", "SALES", "  Sales "]:
        assert_problem(
            await client.post("/api/v1/teams", json={"name": name}, headers=headers), 409, "conflict"
        )
        changed = await client.patch(f"/api/v1/teams/{other}", json={"name": name}, headers=headers)
        assert_problem(changed, 409, "conflict")


async def test_a_team_can_change_the_case_of_its_own_name(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, headers = await _admin_api(factory)
    team = await factory.team("Sales")
    response = await client.patch(f"/api/v1/teams/{team}", json={"name": "SALES"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["name"] == "SALES"


# -- teams through the HTML forms ---------------------------------------------------------------------
async def test_team_crud_with_the_forms(client: httpx.AsyncClient, factory: Factory) -> None:
    await _admin_browser(client, factory)
    a = await factory.user(Role.agent, name="Agent A")
    b = await factory.user(Role.agent, name="Agent B")
    new_form = assert_html(await client.get("/admin/teams/new"), 200)
    assert "Agent A" in new_form
    created = await post_form(
        client, "/admin/teams", {"name": "Night shift", "description": "22-06", "member_ids": [str(a.id)]}
    )
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/admin/teams"
    listing = assert_html(await client.get("/admin/teams"), 200)
    assert "The team Night shift was created." in listing
    assert "Night shift" in listing
    assert "Agent A" in listing
    team_id = int(re.findall(r'href="/admin/teams/(\d+)"', listing)[0])

    edit = assert_html(await client.get(f"/admin/teams/{team_id}"), 200)
    assert f'name="member_ids" value="{a.id}" checked' in edit
    assert f'name="member_ids" value="{b.id}" checked' not in edit
    changed = await post_form(
        client,
        f"/admin/teams/{team_id}",
        {"name": "Night", "description": "", "member_ids": [str(a.id), str(b.id)]},
    )
    assert changed.status_code == 303
    team = (await client.get(f"/api/v1/teams/{team_id}")).json()
    assert (team["name"], sorted(team["member_ids"])) == ("Night", sorted([a.id, b.id]))

    deleted = await post_form(client, f"/admin/teams/{team_id}/delete", {})
    assert deleted.status_code == 303
    assert "The team was deleted." in (await client.get("/admin/teams")).text
    assert_problem(await client.get(f"/api/v1/teams/{team_id}"), 404)
    users = assert_html(await client.get("/admin/users"), 200)
    assert {"Agent A", "Agent B"} <= _names(users)


TEAM_REFUSALS: list[tuple[dict[str, str], str]] = [
    ({}, "This field is required."),
    ({"name": "   "}, "This field is required."),
    ({"name": "support"}, "A team with this name already exists."),
    ({"name": "T" * 150}, "Keep this under 100 characters."),
    ({"name": "Fine", "description": "d" * 600}, "Keep this under 500 characters."),
    ({"name": "Fine", "member_ids": "999999"}, "One of the members does not exist."),
]


async def test_the_team_form_re_renders_with_messages(client: httpx.AsyncClient, factory: Factory) -> None:
    await _admin_browser(client, factory)
    await factory.team("Support")
    other = await factory.team("Other")
    for data, message in TEAM_REFUSALS:
        for path in ("/admin/teams", f"/admin/teams/{other}"):
            html = assert_html(await post_form(client, path, data), 422)
            assert message in html, (path, data)
    assert [t["name"] for t in (await client.get("/api/v1/teams")).json()] == ["Other", "Support"]


async def test_editing_a_team_with_the_form_keeps_its_deactivated_members(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await _admin_browser(client, factory)
    active = await factory.user(Role.agent, name="Still Here")
    away = await factory.user(Role.agent, name="On Leave")
    team = await factory.team("Support", [active.id, away.id])
    async with kernel.db.transaction() as session:
        await service.update_user(session, Actor.system(), away.id, is_active=False)
    form = assert_html(await client.get(f"/admin/teams/{team}"), 200)
    ticked = re.findall(r'name="member_ids" value="(\d+)" checked', form)
    response = await post_form(
        client, f"/admin/teams/{team}", {"name": "Support desk", "description": "", "member_ids": ticked}
    )
    assert response.status_code == 303
    kept = (await client.get(f"/api/v1/teams/{team}")).json()
    assert kept["name"] == "Support desk"
    assert sorted(kept["member_ids"]) == sorted([active.id, away.id])


# -- one's own profile ----------------------------------------------------------------------------------
async def test_the_account_page_changes_name_and_language_and_can_go_back_to_the_browsers_language(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent, name="Old Name")
    await factory.login(client, user)
    response = await post_form(client, "/account/profile", {"name": "  New   Name ", "locale": "en"})
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    assert "kefu_lang=en" in response.headers.get("set-cookie", "")
    me = (await client.get("/api/v1/me")).json()
    assert (me["name"], me["locale"]) == ("New Name", "en")
    assert "Your profile was saved." in (await client.get("/account")).text

    # "As the browser asks": the stored choice goes, and so does the cookie that carried it.
    response = await post_form(client, "/account/profile", {"name": "New Name", "locale": ""})
    assert response.status_code == 303
    assert (await client.get("/api/v1/me")).json()["locale"] is None
    assert "kefu_lang" not in client.cookies

    refused = await post_form(client, "/account/profile", {"name": "x" * 150, "locale": "en"})
    assert "Keep this under 100 characters." in assert_html(refused, 422)
    unknown = await post_form(client, "/account/profile", {"name": "Fine", "locale": "fr"})
    assert "Choose a language." in assert_html(unknown, 422)
    assert (await client.get("/api/v1/me")).json()["name"] == "New Name"


async def test_a_role_change_takes_effect_at_once_for_sessions_and_tokens(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    boss, boss_headers = await _admin_api(factory)
    second = await factory.user(Role.admin)
    second_headers = await factory.token(second)
    await factory.login(other_client, second)
    assert (await client.get("/api/v1/audit", headers=second_headers)).status_code == 200
    assert (await other_client.get("/admin/settings")).status_code == 200
    demoted = await client.patch(f"/api/v1/users/{second.id}", json={"role": "agent"}, headers=boss_headers)
    assert demoted.status_code == 200
    assert_problem(await client.get("/api/v1/audit", headers=second_headers), 403, "permission-denied")
    assert_problem(await client.get("/api/v1/users", headers=second_headers), 403, "permission-denied")
    assert (await other_client.get("/admin/settings")).status_code == 403
    me = (await client.get("/api/v1/me", headers=second_headers)).json()
    assert me["role"] == "agent"
    assert "audit.view" not in me["permissions"]
    assert boss.role == "admin"


# -- at the same time ------------------------------------------------------------------------------------
async def test_concurrent_duplicates_are_conflicts_never_500(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Two admins creating the same user (or team) at once: one wins, the others get 409."""
    _, headers = await _admin_api(factory)
    other = await factory.user(Role.agent)
    teams = [await factory.team(f"Spare {n}") for n in range(4)]
    for n in range(3):
        made = await asyncio.gather(
            *[
                client.post(
                    "/api/v1/users",
                    json={"email": f"same{n}@example.com", "name": "S", "role": "agent"},
                    headers=headers,
                )
                for _ in range(4)
            ]
        )
        assert sorted(r.status_code for r in made) == [201, 409, 409, 409], [r.text[:100] for r in made]
        moved = await asyncio.gather(
            client.patch(
                f"/api/v1/users/{other.id}", json={"email": f"taken{n}@example.com"}, headers=headers
            ),
            client.post(
                "/api/v1/users",
                json={"email": f"taken{n}@example.com", "name": "T", "role": "agent"},
                headers=headers,
            ),
        )
        assert sorted(r.status_code for r in moved) in ([200, 409], [201, 409]), [r.text[:100] for r in moved]
        creates = [
            client.post("/api/v1/teams", json={"name": f"Team {n}"}, headers=headers) for _ in range(3)
        ]
        renames = [
            client.patch(f"/api/v1/teams/{t}", json={"name": f"Team {n}"}, headers=headers) for t in teams[:2]
        ]
        teams_made = await asyncio.gather(*creates, *renames)
        codes = sorted(r.status_code for r in teams_made)
        assert codes.count(409) == 4, [r.text[:100] for r in teams_made]
        assert set(codes) <= {200, 201, 409}
