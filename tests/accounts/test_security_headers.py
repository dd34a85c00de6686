"""Security headers on HTML responses, and the flags of the session cookie (HTTP and HTTPS)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.app import create_app
from tests.accounts.support import CLIENT_IP
from tests.conftest import make_settings
from tests.factories import PASSWORD, Factory, csrf_from, post_form

HTML_PAGES = ["/login", "/", "/account", "/admin", "/admin/users", "/admin/teams", "/admin/roles", "/nowhere"]


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name.lower()] = values
    return directives


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Each Set-Cookie header parsed on its own, by cookie name."""
    found: dict[str, SimpleCookie] = {}
    for raw in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw)
        for name in jar:
            found[name] = jar
    return found


def _flags(raw_headers: list[str], name: str) -> str:
    [header] = [h for h in raw_headers if h.startswith(f"{name}=")]
    return header.lower()


def assert_security_headers(response: httpx.Response) -> None:
    csp = _csp(response)
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src, "no script-src"
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "*" not in script_src
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert response.headers["x-frame-options"].upper() == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in {
        "same-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
    }


async def test_html_pages_carry_the_security_headers(client: httpx.AsyncClient, factory: Factory) -> None:
    for path in HTML_PAGES:
        assert_security_headers(await client.get(path))
    await factory.login(client, await factory.user(Role.agent))
    for path in HTML_PAGES:
        response = await client.get(path)
        assert_security_headers(response)
        if response.status_code != 303:
            assert response.headers["content-type"].startswith("text/html"), path
        if response.status_code == 200:
            # Nothing inline that the policy would block (or that would need 'unsafe-inline').
            for tag in re.findall(r"<script\b[^>]*>", response.text):
                assert "src=" in tag, (path, tag)
            assert not re.search(r"\son[a-z]+\s*=", response.text), f"inline event handler on {path}"
            assert "javascript:" not in response.text, path


async def test_error_pages_and_redirects_carry_the_security_headers(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.login(client, await factory.user(Role.agent))
    for response in (
        await client.get("/admin/settings"),  # 403 page
        await post_form(client, "/logout", {}),  # redirect
        await client.post("/login", data={"email": "x"}),  # CSRF refusal
    ):
        assert_security_headers(response)


async def test_the_session_cookie_over_http(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user(Role.agent)
    response = await factory.login(client, user)
    raw = response.headers.get_list("set-cookie")
    flags = _flags(raw, "kefu_session")
    cookie = _set_cookies(response)["kefu_session"]["kefu_session"]
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert not cookie["domain"]
    assert not cookie["secure"]
    assert "__Host-" not in " ".join(raw)
    assert len(cookie.value) >= 40, "a session token long enough not to be guessed"
    assert "httponly" in flags
    # The CSRF cookie was replaced at login, and it is not readable by scripts either.
    csrf = _set_cookies(response)["kefu_csrf"]["kefu_csrf"]
    assert csrf["httponly"]
    assert csrf["samesite"].lower() == "lax"


@pytest.fixture
async def https_app(tmp_path: Path, db_url: str) -> AsyncIterator[Any]:
    settings = make_settings(tmp_path / "https-data", db_url, base_url="https://kefu.example")
    assert settings.https
    application = create_app(settings, run_jobs=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def https_client(https_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=https_app, client=(CLIENT_IP, 40003))
    async with httpx.AsyncClient(transport=transport, base_url="https://kefu.example") as c:
        yield c


async def _https_login(https_app: Any, https_client: httpx.AsyncClient) -> httpx.Response:
    factory = Factory(https_app.state.kernel)
    user = await factory.user(Role.agent)
    token = csrf_from((await https_client.get("/login")).text)
    response = await https_client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return response


async def test_the_session_cookie_over_https_is_secure_and_host_only(
    https_app: Any, https_client: httpx.AsyncClient
) -> None:
    first = await https_client.get("/login")
    assert "secure" in _flags(first.headers.get_list("set-cookie"), "kefu_csrf")
    assert first.headers["strict-transport-security"].startswith("max-age=")
    assert_security_headers(first)

    response = await _https_login(https_app, https_client)
    cookies = _set_cookies(response)
    assert "kefu_session" not in cookies
    cookie = cookies["__Host-kefu_session"]["__Host-kefu_session"]
    assert cookie["secure"]
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert not cookie["domain"]  # the __Host- prefix forbids a Domain
    assert cookies["kefu_csrf"]["kefu_csrf"]["secure"]
    # The cookie works: the next page knows who is there.
    assert (await https_client.get("/account")).status_code == 200


@pytest.mark.parametrize("path", ["/logout", "/account/logout-everywhere"])
async def test_logging_out_over_https_deletes_the_cookie_in_a_way_browsers_accept(
    https_app: Any, https_client: httpx.AsyncClient, path: str
) -> None:
    await _https_login(https_app, https_client)
    token = csrf_from((await https_client.get("/account")).text)
    response = await https_client.post(path, data={"csrf_token": token})
    assert response.status_code == 303
    # A browser ignores a Set-Cookie for a __Host- cookie unless it is Secure with Path=/.
    deletion = _set_cookies(response)["__Host-kefu_session"]["__Host-kefu_session"]
    assert deletion.value in ("", '""')
    assert deletion["secure"]
    assert deletion["path"] == "/"
    assert deletion["max-age"] in ("0", 0) or deletion["expires"]
    assert (await https_client.get("/account")).status_code == 303


async def test_cookies_over_http_are_not_marked_secure(client: httpx.AsyncClient) -> None:
    response = await client.get("/login")
    assert "secure" not in _flags(response.headers.get_list("set-cookie"), "kefu_csrf")
    assert "strict-transport-security" not in response.headers


async def test_the_flash_cookie_over_https_is_secure(https_app: Any, https_client: httpx.AsyncClient) -> None:
    await _https_login(https_app, https_client)
    token = csrf_from((await https_client.get("/account")).text)
    response = await https_client.post("/logout", data={"csrf_token": token})
    flash = _set_cookies(response)["kefu_flash"]["kefu_flash"]
    assert flash["secure"]
    assert flash["httponly"]
