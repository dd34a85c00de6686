"""Browser sessions end when they must: password changes, logout everywhere, revocation, deactivation."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from kefu.accounts.access import Role
from kefu.accounts.models import WebSession
from kefu.platform.db import utcnow
from kefu.platform.kernel import Kernel
from tests.accounts.support import (
    NEW_PASSWORD,
    assert_login_redirect,
    assert_problem,
    csrf_headers,
    form_ids,
    session_ids,
)
from tests.factories import PASSWORD, Factory, csrf_token, post_form

REVOKE_SESSION = r'action="/account/sessions/(\d+)/revoke"'


async def _logged_in(client: httpx.AsyncClient) -> bool:
    response = await client.get("/account")
    if response.status_code == 200:
        return True
    assert_login_redirect(response)
    return False


async def _can_log_in(client: httpx.AsyncClient, email: str, password: str) -> bool:
    token = await csrf_token(client, "/login")
    response = await client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code in (303, 422), response.text
    return response.status_code == 303


@pytest.mark.parametrize("via", ["api", "form"])
async def test_changing_ones_password_ends_the_other_sessions_but_keeps_this_one(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    third_client: httpx.AsyncClient,
    factory: Factory,
    kernel: Kernel,
    via: str,
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    await factory.login(client, user)
    assert len(await session_ids(kernel, user.id)) == 2
    if via == "api":
        response = await client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=await csrf_headers(client),
        )
        assert response.status_code == 204, response.text
    else:
        response = await post_form(
            client,
            "/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/account"
        assert "Your other logins have ended" in (await client.get("/account")).text
    assert await _logged_in(client)
    assert not await _logged_in(other_client)
    assert len(await session_ids(kernel, user.id)) == 1
    assert not await _can_log_in(third_client, user.email, PASSWORD)
    assert await _can_log_in(third_client, user.email, NEW_PASSWORD)


async def test_changing_ones_password_through_a_token_ends_every_session(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(client, user)
    headers = await factory.token(user)
    response = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert response.status_code == 204
    assert not await _logged_in(client)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field_message"),
    [
        ("wrong-password-1", NEW_PASSWORD, NEW_PASSWORD, "The current password is wrong."),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords differ."),
        (PASSWORD, "short", "short", "at least 8 characters"),
        (PASSWORD, "password123", "password123", "too easy to guess"),
        (PASSWORD, PASSWORD, PASSWORD, "different from the current one"),
        ("", "", "", "The current password is wrong."),
    ],
)
async def test_a_refused_password_change_says_why_and_changes_nothing(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    factory: Factory,
    current: str,
    new: str,
    confirm: str,
    field_message: str,
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    await factory.login(client, user)
    response = await post_form(
        client,
        "/account/password",
        {"current_password": current, "new_password": new, "confirm_password": confirm},
    )
    assert response.status_code == 422
    assert field_message in response.text
    assert 'class="field-error"' in response.text or 'class="flash flash-error"' in response.text
    assert await _logged_in(other_client)
    assert await _can_log_in(client, user.email, PASSWORD)


async def test_a_refused_password_change_through_the_api_names_the_field(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    headers = await factory.token(user)
    response = await client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=headers
    )
    body = assert_problem(response, 422, "invalid-input")
    assert [e["field"] for e in body["errors"]] == ["new_password"]
    wrong = await client.post(
        "/api/v1/me/password",
        json={"current_password": "not-it-at-all", "new_password": NEW_PASSWORD},
        headers=headers,
    )
    body = assert_problem(wrong, 422, "invalid-input")
    assert [e["field"] for e in body["errors"]] == ["current_password"]


async def test_logout_everywhere_from_the_account_page_ends_every_session(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    await factory.login(client, user)
    response = await post_form(client, "/account/logout-everywhere", {})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert not await _logged_in(client)
    assert not await _logged_in(other_client)
    assert await session_ids(kernel, user.id) == []


async def test_an_admin_can_log_a_user_out_everywhere(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    third_client: httpx.AsyncClient,
    factory: Factory,
    kernel: Kernel,
) -> None:
    user = await factory.user(Role.agent)
    bystander = await factory.user(Role.agent)
    await factory.login(other_client, user)
    await factory.login(third_client, bystander)
    admin = await factory.user(Role.admin)
    headers = await factory.token(admin)
    response = await client.post(f"/api/v1/users/{user.id}/logout-everywhere", headers=headers)
    assert response.status_code == 204
    assert not await _logged_in(other_client)
    assert await _logged_in(third_client)
    assert await session_ids(kernel, user.id) == []


async def test_an_admin_can_log_a_user_out_everywhere_with_the_form(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    page = await client.get(f"/admin/users/{user.id}")
    assert "Open sessions: 1" in page.text
    response = await post_form(client, f"/admin/users/{user.id}/logout-everywhere", {})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/users/{user.id}"
    assert "1 logins were ended." in (await client.get(response.headers["location"])).text
    assert not await _logged_in(other_client)
    assert await _logged_in(client)


async def test_one_session_can_be_ended_from_the_account_page(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    await factory.login(client, user)
    page = await client.get("/account")
    others = form_ids(page.text, REVOKE_SESSION)
    assert len(others) == 1, "only the other browser's session can be ended (not this one)"
    assert "this browser" in page.text
    response = await post_form(client, f"/account/sessions/{others[0]}/revoke", {})
    assert response.status_code == 303
    assert not await _logged_in(other_client)
    assert await _logged_in(client)
    assert len(await session_ids(kernel, user.id)) == 1
    assert form_ids((await client.get("/account")).text, REVOKE_SESSION) == []


async def test_nobody_can_end_someone_elses_session(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    victim = await factory.user(Role.agent)
    await factory.login(other_client, victim)
    attacker = await factory.user(Role.admin)
    await factory.login(client, attacker)
    victim_session = (await session_ids(kernel, victim.id))[0]
    response = await post_form(client, f"/account/sessions/{victim_session}/revoke", {})
    assert response.status_code == 404
    assert await _logged_in(other_client)


@pytest.mark.parametrize("via", ["api", "form"])
async def test_a_deactivated_user_is_shut_out_everywhere(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    third_client: httpx.AsyncClient,
    factory: Factory,
    kernel: Kernel,
    via: str,
) -> None:
    user = await factory.user(Role.supervisor, email="leaving@example.com", name="Leaving")
    user_token = await factory.token(user)
    await factory.login(other_client, user)
    admin = await factory.user(Role.admin)
    if via == "api":
        response = await client.patch(
            f"/api/v1/users/{user.id}", json={"is_active": False}, headers=await factory.token(admin)
        )
        assert response.status_code == 200
        assert response.json()["is_active"] is False
    else:
        await factory.login(client, admin)
        response = await post_form(
            client,
            f"/admin/users/{user.id}",
            {"email": user.email, "name": user.name, "role": "supervisor"},  # "is_active" unchecked
        )
        assert response.status_code == 303, response.text
    assert not await _logged_in(other_client)
    assert_problem(await other_client.get("/api/v1/me"), 401)
    assert_problem(await other_client.get("/api/v1/me", headers=user_token), 401)
    assert await session_ids(kernel, user.id) == []
    token = await csrf_token(third_client, "/login")
    refused = await third_client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 422
    assert "Wrong email or password" in refused.text
    assert "kefu_session" not in refused.headers.get("set-cookie", "")


async def test_a_reactivated_user_can_log_in_again(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    admin = await factory.user(Role.admin)
    headers = await factory.token(admin)
    assert (
        await client.patch(f"/api/v1/users/{user.id}", json={"is_active": False}, headers=headers)
    ).is_success
    assert not await _can_log_in(other_client, user.email, PASSWORD)
    assert (
        await client.patch(f"/api/v1/users/{user.id}", json={"is_active": True}, headers=headers)
    ).is_success
    assert await _can_log_in(other_client, user.email, PASSWORD)


@pytest.mark.parametrize("via", ["api", "form"])
async def test_an_admin_password_reset_ends_the_users_sessions(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, kernel: Kernel, via: str
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    admin = await factory.user(Role.admin)
    if via == "api":
        response = await client.put(
            f"/api/v1/users/{user.id}/password",
            json={"password": NEW_PASSWORD},
            headers=await factory.token(admin),
        )
        assert response.status_code == 204
    else:
        await factory.login(client, admin)
        response = await post_form(client, f"/admin/users/{user.id}/password", {"password": NEW_PASSWORD})
        assert response.status_code == 303
        assert await _logged_in(client)
    assert not await _logged_in(other_client)
    assert await session_ids(kernel, user.id) == []
    assert not await _can_log_in(other_client, user.email, PASSWORD)
    assert await _can_log_in(other_client, user.email, NEW_PASSWORD)


async def test_an_admin_password_reset_refuses_a_weak_password(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    response = await post_form(client, f"/admin/users/{user.id}/password", {"password": "12345678"})
    assert response.status_code == 422
    assert "too easy to guess" in response.text
    assert await _logged_in(other_client)
    api = await client.put(
        f"/api/v1/users/{user.id}/password", json={"password": "short"}, headers=await factory.token(admin)
    )
    body = assert_problem(api, 422, "invalid-input")
    assert body["errors"][0]["field"] == "password"


async def test_logout_ends_only_this_session(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(other_client, user)
    await factory.login(client, user)
    response = await post_form(client, "/logout", {})
    assert response.status_code == 303
    assert not await _logged_in(client)
    assert await _logged_in(other_client)
    assert len(await session_ids(kernel, user.id)) == 1


async def test_an_expired_session_no_longer_counts(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(client, user)
    assert await _logged_in(client)
    async with kernel.db.transaction() as session:
        await session.execute(
            update(WebSession)
            .where(WebSession.user_id == user.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert not await _logged_in(client)
    assert_problem(await client.get("/api/v1/me"), 401, "not-authenticated")
