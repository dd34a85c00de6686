"""Password login, sessions, throttling and CSRF, through the real HTTP stack."""

from __future__ import annotations

import httpx

from kefu.accounts.access import Role
from kefu.settings import Settings
from tests.factories import PASSWORD, Factory, csrf_token, post_form


async def test_login_sets_a_secure_session_cookie_and_opens_the_start_page(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent, name="张三")
    response = await factory.login(client, user)
    cookie = response.headers["set-cookie"]
    assert "kefu_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    home = await client.get("/")
    assert home.status_code == 200
    assert "张三" in home.text


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user()
    token = await csrf_token(client, "/login")
    wrong = await client.post(
        "/login", data={"email": user.email, "password": "nope-nope", "csrf_token": token}
    )
    unknown = await client.post(
        "/login", data={"email": "ghost@example.com", "password": "x", "csrf_token": token}
    )
    assert wrong.status_code == unknown.status_code == 422
    assert "Wrong email or password" in wrong.text
    assert "Wrong email or password" in unknown.text
    assert "kefu_session" not in wrong.headers.get("set-cookie", "")


async def test_repeated_failures_lock_the_account_temporarily(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    user = await factory.user()
    token = await csrf_token(client, "/login")
    for _ in range(settings.login_max_failures):
        response = await client.post(
            "/login", data={"email": user.email, "password": "bad", "csrf_token": token}
        )
        assert response.status_code == 422
    locked = await client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Too many failed logins" in locked.text


async def test_a_form_without_csrf_token_is_rejected(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    await client.get("/login")  # the browser has its CSRF cookie, but the form lacks the token
    response = await client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "Security check failed" in response.text
    forged = await client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 403


async def test_logout_ends_the_session(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    await factory.login(client, user)
    response = await post_form(client, "/logout", {})
    assert response.status_code == 303
    after = await client.get("/")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")
