"""CSRF: a browser's cookie never authorises a write on its own; tokens in headers need no CSRF."""

from __future__ import annotations

import httpx

from kefu.accounts.access import Role
from tests.factories import Factory, csrf_token
from tests.factories import csrf_from as csrf_token_from_page


async def test_an_api_write_with_the_login_cookie_needs_the_csrf_header(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    refused = await client.post("/api/v1/teams", json={"name": "forged"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf-failed"
    token = await csrf_token(client)
    accepted = await client.post("/api/v1/teams", json={"name": "real"}, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 201


async def test_an_api_write_without_any_credentials_is_simply_unauthenticated(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/teams", json={"name": "x"})
    assert response.status_code == 401
    assert response.json()["code"] == "not-authenticated"


async def test_a_bearer_token_request_needs_no_csrf_even_with_cookies(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)  # the client also carries the login cookie
    response = await client.post(
        "/api/v1/teams", json={"name": "by token"}, headers=await factory.token(admin)
    )
    assert response.status_code == 201


async def test_a_token_from_another_browser_is_refused(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(client, user)
    stolen = await csrf_token(other_client, "/login")  # valid, but for the other browser's cookie
    response = await client.post("/account/profile", data={"name": "x", "csrf_token": stolen})
    assert response.status_code == 403


async def test_the_csrf_seed_changes_at_login(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user(Role.agent)
    before = await csrf_token(client, "/login")
    await factory.login(client, user)
    after = await csrf_token(client, "/account")
    assert before != after  # a seed planted before login is worthless afterwards


async def test_the_security_check_page_gives_a_fresh_cookie_so_its_forms_work(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/lang", data={"locale": "en"})  # a browser that never had the cookie
    assert refused.status_code == 403
    assert "kefu_csrf=" in refused.headers.get("set-cookie", "")
    token = csrf_token_from_page(refused.text)
    retried = await client.post("/lang", data={"locale": "en", "csrf_token": token})
    assert retried.status_code == 303
