"""Bad input never gives a 500: out-of-range ids, odd characters, wrong types, missing fields."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kefu.accounts.access import Role
from tests.accounts.support import assert_html, assert_problem
from tests.factories import Factory, csrf_from, post_form

HUGE = 2**40
NUL = "a\x00b"
SURROGATE = "a\ud800b"


async def _admin(client: httpx.AsyncClient, factory: Factory) -> tuple[dict[str, str], int, int]:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    user = await factory.user(Role.agent)
    team = await factory.team()
    return await factory.token(admin), user.id, team


# -- ids out of range -------------------------------------------------------------------------------
BAD_PATH_IDS: list[object] = [HUGE, 2**31, 0, -1, "abc", "1.5", "1e3", "٣", "1%00"]


API_PATHS_WITH_IDS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/users/{id}", None),
    ("PATCH", "/api/v1/users/{id}", {"name": "X"}),
    ("PUT", "/api/v1/users/{id}/password", {"password": "a-long-new-secret"}),
    ("POST", "/api/v1/users/{id}/logout-everywhere", None),
    ("GET", "/api/v1/teams/{id}", None),
    ("PATCH", "/api/v1/teams/{id}", {"name": "X"}),
    ("PUT", "/api/v1/teams/{id}/members", {"user_ids": []}),
    ("DELETE", "/api/v1/teams/{id}", None),
    ("DELETE", "/api/v1/tokens/{id}", None),
]


async def test_an_out_of_range_id_in_an_api_path_is_a_4xx_problem(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    headers, _, _ = await _admin(client, factory)
    for method, path, body in API_PATHS_WITH_IDS:
        for bad_id in BAD_PATH_IDS:
            response = await client.request(method, path.format(id=bad_id), json=body, headers=headers)
            assert response.status_code in (404, 422), (method, path, bad_id, response.text)
            assert_problem(response, response.status_code)


PAGE_PATHS_WITH_IDS = [
    ("GET", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}/password"),
    ("POST", "/admin/users/{id}/logout-everywhere"),
    ("GET", "/admin/teams/{id}"),
    ("POST", "/admin/teams/{id}"),
    ("POST", "/admin/teams/{id}/delete"),
    ("POST", "/account/sessions/{id}/revoke"),
    ("POST", "/account/tokens/{id}/revoke"),
]


async def test_an_out_of_range_id_in_a_page_path_is_not_found(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await _admin(client, factory)
    token = csrf_from((await client.get("/account")).text)
    data = {"name": "X", "email": "x@example.com", "role": "agent", "password": "a-long-new-secret"}
    for method, path in PAGE_PATHS_WITH_IDS:
        for bad_id in (HUGE, 2**31, 0, -1, 999_999, 10**30):
            url = path.format(id=bad_id)
            response = (
                await client.get(url)
                if method == "GET"
                else await client.post(url, data={**data, "csrf_token": token})
            )
            assert response.status_code == 404, (method, url, response.status_code)
            assert "Not found" in assert_html(response, 404)


BAD_BODY_IDS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/users", {"email": "n@example.com", "name": "N", "role": "agent", "team_ids": [HUGE]}),
    ("POST", "/api/v1/users", {"email": "n@example.com", "name": "N", "role": "agent", "team_ids": [0]}),
    ("POST", "/api/v1/users", {"email": "n@example.com", "name": "N", "role": "agent", "team_ids": [2**31]}),
    ("POST", "/api/v1/users", {"email": "n@example.com", "name": "N", "role": "agent", "team_ids": [999]}),
    ("PATCH", "/api/v1/users/{user}", {"team_ids": [HUGE]}),
    ("PATCH", "/api/v1/users/{user}", {"team_ids": [2**31 - 1]}),
    ("PATCH", "/api/v1/users/{user}", {"team_ids": [10**40]}),
    ("POST", "/api/v1/teams", {"name": "N", "member_ids": [HUGE]}),
    ("POST", "/api/v1/teams", {"name": "N", "member_ids": [2**31 - 1]}),
    ("PUT", "/api/v1/teams/{team}/members", {"user_ids": [HUGE]}),
    ("PUT", "/api/v1/teams/{team}/members", {"user_ids": [-5]}),
    ("PUT", "/api/v1/teams/{team}/members", {"user_ids": list(range(1, 1002))}),
    ("POST", "/api/v1/tokens", {"name": "N", "scopes": ["read"], "expires_days": HUGE}),
]


async def test_an_out_of_range_id_in_an_api_body_is_422(client: httpx.AsyncClient, factory: Factory) -> None:
    headers, user, team = await _admin(client, factory)
    for method, path, body in BAD_BODY_IDS:
        response = await client.request(method, path.format(user=user, team=team), json=body, headers=headers)
        assert response.status_code == 422, (method, path, body, response.text)
        assert_problem(response, 422, "invalid-input")


async def test_bad_user_list_parameters_are_422(client: httpx.AsyncClient, factory: Factory) -> None:
    headers, _, _ = await _admin(client, factory)
    queries: list[dict[str, str | int]] = [
        {"team_id": HUGE},
        {"team_id": 0},
        {"after": HUGE},
        {"after": -1},
        {"limit": 0},
        {"limit": 100_000},
        {"role": "king"},
        {"active": "perhaps"},
        {"q": "x" * 101},
        {"q": NUL},
    ]
    for query in queries:
        response = await client.get("/api/v1/users", params=query, headers=headers)
        assert response.status_code == 422, query
        assert_problem(response, 422, "invalid-input")


async def test_odd_users_page_parameters_still_show_the_page(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await _admin(client, factory)
    for query in [
        f"team={HUGE}",
        "team=999999999",
        "team=-1",
        "team=%D9%A3",
        "q=" + "x" * 5000,
        "q=%00",
        "q=%ED%A0%80",
        "q=%25%5F%5C",
        "role=%00",
        "status=%00",
        "q=a&q=b&role=agent&role=admin",
    ]:
        response = await client.get("/admin/users?" + query)
        assert response.status_code in (200, 422), (query, response.status_code)


# -- odd characters and sizes -------------------------------------------------------------------------
ODD_NAMES = [
    NUL,
    SURROGATE,
    "\ud800",
    "\udfff",
    "a\x1bb",
    "a\u202eb",  # right-to-left override
    "x" * 101,
    "x" * 100_000,
    "",
    "   ",
]


def as_json(body: object) -> dict[str, Any]:
    """Request arguments for a JSON body that may hold lone surrogates (escaped, as JSON allows)."""
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


NAMED_FIELDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/users", "name", {"email": "n@example.com", "role": "agent"}),
    ("PATCH", "/api/v1/users/{user}", "name", {}),
    ("PATCH", "/api/v1/me", "name", {}),
    ("POST", "/api/v1/teams", "name", {}),
    ("PATCH", "/api/v1/teams/{team}", "name", {}),
    ("POST", "/api/v1/tokens", "name", {"scopes": ["read"]}),
    ("POST", "/api/v1/users", "email", {"name": "N", "role": "agent"}),
]


async def test_odd_names_are_422_in_the_api(client: httpx.AsyncClient, factory: Factory) -> None:
    headers, user, team = await _admin(client, factory)
    for method, path, field, extra in NAMED_FIELDS:
        for name in ODD_NAMES:
            request = as_json({**extra, field: name})
            response = await client.request(
                method,
                path.format(user=user, team=team),
                content=request["content"],
                headers={**headers, **request["headers"]},
            )
            assert response.status_code == 422, (method, path, field, name[:20], response.text[:300])
            assert_problem(response, 422, "invalid-input")


async def test_an_odd_team_description_is_422(client: httpx.AsyncClient, factory: Factory) -> None:
    headers, _, team = await _admin(client, factory)
    for description in [NUL, SURROGATE, "x" * 501, "a\x07b"]:
        for method, path in (("POST", "/api/v1/teams"), ("PATCH", f"/api/v1/teams/{team}")):
            request = as_json({"name": "N", "description": description})
            response = await client.request(
                method, path, content=request["content"], headers={**headers, **request["headers"]}
            )
            assert response.status_code == 422, (description[:20], response.text[:300])
            assert_problem(response, 422, "invalid-input")


async def test_names_in_any_script_are_fine(client: httpx.AsyncClient, factory: Factory) -> None:
    headers, user, _ = await _admin(client, factory)
    for name in ("张伟", "Ünïcødé", "محمد", "😀 Smiley", "x" * 100, "Tab\tSeparated"):
        response = await client.patch(f"/api/v1/users/{user}", json={"name": name}, headers=headers)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["name"] == " ".join(name.split())


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users",
        "/admin/users/{user}",
        "/admin/teams",
        "/admin/teams/{team}",
        "/account/profile",
        "/login",
    ],
)
async def test_odd_form_values_never_give_a_500(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    _, user, team = await _admin(client, factory)
    token = csrf_from((await client.get("/account")).text)
    for field in ("name", "email", "password", "description", "team_ids", "member_ids", "role"):
        for value in ("a%00b", "%ED%A0%80", "x" * 20_000, "%FF%FE", "9" * 30, "-1"):
            body = f"csrf_token={token}&email=ok%40example.com&name=Ok&role=agent&{field}={value}"
            response = await client.post(
                path.format(user=user, team=team),
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code in (303, 422, 429), (field, value[:20], response.status_code)


# -- wrong JSON ---------------------------------------------------------------------------------------
WRONG_JSON = [
    ("POST", "/api/v1/users", ""),
    ("POST", "/api/v1/users", "{"),
    ("POST", "/api/v1/users", "[]"),
    ("POST", "/api/v1/users", '"text"'),
    ("POST", "/api/v1/users", "null"),
    ("POST", "/api/v1/users", "{}"),
    ("POST", "/api/v1/users", '{"email": 5, "name": "N", "role": "agent"}'),
    ("POST", "/api/v1/users", '{"email": "n@example.com", "name": ["N"], "role": "agent"}'),
    ("POST", "/api/v1/users", '{"email": "n@example.com", "name": "N", "role": "king"}'),
    ("POST", "/api/v1/users", '{"email": "n@example.com", "name": "N", "role": "agent", "team_ids": "1"}'),
    ("POST", "/api/v1/users", '{"email": "n@example.com", "name": "N", "role": "agent", "locale": "fr"}'),
    ("POST", "/api/v1/users", '{"email": "n@example.com", "name": "N", "role": "agent", "is_admin": true}'),
    (
        "POST",
        "/api/v1/users",
        '{"email": "n@example.com", "name": "N", "role": "agent", "password": 12345678}',
    ),
    ("POST", "/api/v1/users", '{"email": "n@example.com", "name": "N", "role": "agent", "password": ""}'),
    ("PATCH", "/api/v1/users/{user}", ""),
    ("PATCH", "/api/v1/users/{user}", '{"is_active": "maybe"}'),
    ("PATCH", "/api/v1/users/{user}", '{"is_active": null, "role": null, "id": 1}'),
    ("PATCH", "/api/v1/users/{user}", '{"role": "admin", "password_hash": "x"}'),
    ("PATCH", "/api/v1/users/{user}", '{"name": 1e999}'),
    ("PATCH", "/api/v1/users/{user}", '{"name": "\\ud800"}'),
    ("PATCH", "/api/v1/me", '{"role": "admin"}'),
    ("PATCH", "/api/v1/me", '{"locale": 1}'),
    ("POST", "/api/v1/me/password", "{}"),
    ("POST", "/api/v1/me/password", '{"current_password": null, "new_password": "x"}'),
    ("POST", "/api/v1/teams", ""),
    ("POST", "/api/v1/teams", '{"name": "N", "member_ids": {"1": 1}}'),
    ("POST", "/api/v1/teams", '{"name": "N", "colour": "red"}'),
    ("PATCH", "/api/v1/teams/{team}", '{"member_ids": [1]}'),
    ("PUT", "/api/v1/teams/{team}/members", "{}"),
    ("PUT", "/api/v1/teams/{team}/members", '{"user_ids": [1.5]}'),
    ("PUT", "/api/v1/teams/{team}/members", '{"user_ids": [null]}'),
    ("PUT", "/api/v1/teams/{team}/members", '{"user_ids": ["one"]}'),
    ("PUT", "/api/v1/users/{user}/password", '{"password": "x"}'),
    ("PUT", "/api/v1/users/{user}/password", '{"password": "' + "x" * 300 + '"}'),
    ("POST", "/api/v1/tokens", '{"name": "N", "scopes": []}'),
    ("POST", "/api/v1/tokens", '{"name": "N", "scopes": ["root"]}'),
    ("POST", "/api/v1/tokens", '{"name": "N", "scopes": "read"}'),
    ("POST", "/api/v1/tokens", '{"name": "N", "scopes": ["read", "read", "read", "read"]}'),
]


async def test_wrong_json_is_a_422_problem_with_errors(client: httpx.AsyncClient, factory: Factory) -> None:
    headers, user, team = await _admin(client, factory)
    for method, path, content in WRONG_JSON:
        response = await client.request(
            method,
            path.format(user=user, team=team),
            content=content.encode(),
            headers={**headers, "content-type": "application/json"},
        )
        assert response.status_code == 422, (method, path, content[:60], response.text[:300])
        body = assert_problem(response, 422, "invalid-input")
        assert isinstance(body["errors"], list)
        assert body["errors"], content


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_that_is_not_json_is_a_4xx_problem(
    client: httpx.AsyncClient, factory: Factory, content_type: str
) -> None:
    headers, _, _ = await _admin(client, factory)
    response = await client.post(
        "/api/v1/teams", content=b"name=N", headers={**headers, "content-type": content_type}
    )
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)


# -- HTML forms with missing fields ------------------------------------------------------------------
EMPTY_FORMS = [
    ("/admin/users", "Enter a valid email address."),
    ("/admin/users/{user}", "This field is required."),
    ("/admin/users/{user}/password", "at least 8 characters"),
    ("/admin/teams", "This field is required."),
    ("/admin/teams/{team}", "This field is required."),
    ("/account/profile", "This field is required."),
    ("/account/password", "The current password is wrong."),
    ("/account/tokens", "This field is required."),
    ("/login", "Wrong email or password."),
]


async def test_a_form_with_missing_fields_re_renders_with_a_message(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, user, team = await _admin(client, factory)
    token = csrf_from((await client.get("/account")).text)
    for path, message in EMPTY_FORMS:
        response = await client.post(path.format(user=user, team=team), data={"csrf_token": token})
        html = assert_html(response, 422)
        assert message in html, path
        assert "<form" in html


async def test_an_unknown_language_is_a_4xx(client: httpx.AsyncClient, factory: Factory) -> None:
    await _admin(client, factory)
    for locale in ("", "fr", "zh_CN\x00", "x" * 1000):
        response = await post_form(client, "/lang", {"locale": locale})
        assert response.status_code == 422


async def test_an_oversized_body_is_413(client: httpx.AsyncClient, factory: Factory) -> None:
    headers, _, _ = await _admin(client, factory)
    limit = factory.kernel.settings.max_request_bytes
    response = await client.post(
        "/api/v1/teams",
        content=b'{"name": "' + b"x" * (limit + 10) + b'"}',
        headers={**headers, "content-type": "application/json"},
    )
    assert_problem(response, 413)


async def test_a_nul_in_the_login_email_is_just_a_wrong_login(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    token = csrf_from((await client.get("/login")).text)
    for email in (user.email + "\x00", "\x00" + user.email, "a\x00b@example.com", "\x00"):
        response = await client.post(
            "/login", data={"email": email, "password": "whatever-1", "csrf_token": token}
        )
        assert "Wrong email or password." in assert_html(response, 422)
    assert (await factory.login(client, user)).status_code == 303


async def test_a_nul_in_the_users_page_search_is_ignored(client: httpx.AsyncClient, factory: Factory) -> None:
    await _admin(client, factory)
    await factory.user(Role.agent, name="Needle")
    html = assert_html(await client.get("/admin/users", params={"q": "Nee\x00dle"}), 200)
    assert "Needle" in html
