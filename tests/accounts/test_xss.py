"""Names are data: shown escaped on every page, returned verbatim by the API."""

from __future__ import annotations

import httpx
import pytest

from kefu.accounts.access import Role
from tests.accounts.support import assert_html
from tests.factories import PASSWORD, Factory, csrf_from, post_form

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "{{ 7*7 }} %(name)s {name}",
]
# What must never reach a page unescaped.
DANGEROUS = ["<script>alert", "<img src=x", "<svg onload", 'value=""><img', "value=''><svg"]


def assert_escaped(html: str, payload: str, where: str) -> None:
    for bad in DANGEROUS:
        assert bad not in html, (where, bad)
    # Shown, escaped (and a name that looks like a template or a format string is shown as typed).
    escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&#34;").replace("'", "&#39;")
    assert escaped in html, (where, escaped)


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_user_and_team_names_are_escaped_on_every_page(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, payload: str
) -> None:
    admin = await factory.user(Role.admin, name="Boss")
    headers = await factory.token(admin)
    team = (
        await client.post("/api/v1/teams", json={"name": payload, "description": payload}, headers=headers)
    ).json()
    user = (
        await client.post(
            "/api/v1/users",
            json={
                "email": "evil@example.com",
                "name": payload,
                "role": "agent",
                "password": "a-good-long-password",
                "team_ids": [team["id"]],
            },
            headers=headers,
        )
    ).json()
    # The API hands the names back exactly as given.
    assert user["name"] == payload
    assert team["name"] == payload
    assert team["description"] == payload
    assert (await client.get(f"/api/v1/users/{user['id']}", headers=headers)).json()["name"] == payload
    assert (await client.get(f"/api/v1/teams/{team['id']}", headers=headers)).json()["name"] == payload
    listed = (await client.get("/api/v1/users", params={"q": payload[:20]}, headers=headers)).json()
    assert [u["name"] for u in listed["items"]] == [payload]

    await factory.login(client, admin)
    for path in (
        "/admin/users",
        "/admin/users?status=all&q=" + payload[:5],
        f"/admin/users/{user['id']}",
        "/admin/users/new",
        "/admin/teams",
        f"/admin/teams/{team['id']}",
        "/admin/teams/new",
        "/admin/audit",
        "/admin",
    ):
        html = assert_html(await client.get(path), 200)
        assert_escaped(html, payload, path)
    # The htmx fragment of the users table, too.
    fragment = assert_html(await client.get("/admin/users", headers={"HX-Request": "true"}), 200)
    assert_escaped(fragment, payload, "users table fragment")

    # The user's own pages, where their name greets them.
    token = csrf_from((await other_client.get("/login")).text)
    logged_in = await other_client.post(
        "/login", data={"email": "evil@example.com", "password": "a-good-long-password", "csrf_token": token}
    )
    assert logged_in.status_code == 303
    for path in ("/", "/account"):
        html = assert_html(await other_client.get(path), 200)
        assert_escaped(html, payload, path)


@pytest.mark.parametrize("payload", PAYLOADS[:2])
async def test_names_typed_into_forms_are_escaped_when_the_form_comes_back(
    client: httpx.AsyncClient, factory: Factory, payload: str
) -> None:
    admin = await factory.user(Role.admin, email="boss@example.com")
    await factory.login(client, admin)
    # Refused (duplicate email), so the form comes back with what was typed.
    user_form = await post_form(
        client, "/admin/users", {"email": "boss@example.com", "name": payload, "role": "agent"}
    )
    assert_escaped(assert_html(user_form, 422), payload, "user form")
    await factory.team("Taken")
    team_form = await post_form(client, "/admin/teams", {"name": "Taken", "description": payload})
    html = assert_html(team_form, 422)
    for bad in DANGEROUS:
        assert bad not in html
    # Accepted: the flash message on the next page names the new user.
    created = await post_form(
        client, "/admin/users", {"email": "new@example.com", "name": payload, "role": "agent"}
    )
    assert created.status_code == 303
    assert_escaped(assert_html(await client.get(created.headers["location"]), 200), payload, "flash")
    created = await post_form(client, "/admin/teams", {"name": payload})
    assert created.status_code == 303
    assert_escaped(assert_html(await client.get("/admin/teams"), 200), payload, "team flash")


async def test_the_login_next_parameter_cannot_leave_the_site_or_inject_markup(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    page = await client.get("/login", params={"next": '/"><script>alert(1)</script>'})
    html = assert_html(page, 200)
    assert "<script>alert" not in html
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        token = csrf_from((await client.get("/login")).text)
        response = await client.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/", target
        await post_form(client, "/logout", {})
