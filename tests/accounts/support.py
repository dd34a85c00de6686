"""Helpers shared by the accounts tests: problem details, sessions, tokens, the audit log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from kefu.accounts.access import Role, grantable_scopes
from kefu.accounts.models import ApiToken, User, WebSession
from kefu.platform.audit import AuditEntry, AuditFilter, list_audit_entries
from kefu.platform.kernel import Kernel
from tests.factories import Factory, csrf_token

CLIENT_IP = "203.0.113.7"  # the address the test clients connect from (tests/conftest.py)
PROBLEM_JSON = "application/problem+json"
NEW_PASSWORD = "fresh-staple-lantern-42"


@asynccontextmanager
async def browser(app: Any, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """One more browser, with cookies of its own, from the test client address."""
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 40100))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem details response with this status (and code)."""
    assert response.status_code == status, (response.status_code, response.text[:600])
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_html(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:600])
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    return response.text


def assert_login_redirect(response: httpx.Response) -> None:
    assert response.status_code == 303, (response.status_code, response.text[:300])
    assert response.headers["location"].startswith("/login"), response.headers["location"]


async def browser_login(factory: Factory, client: httpx.AsyncClient, role: Role | str, **kw: Any) -> User:
    """A new user of ``role``, logged in with ``client``."""
    user = await factory.user(role, **kw)
    await factory.login(client, user)
    return user


async def full_token(factory: Factory, user: User) -> dict[str, str]:
    """Authorization headers with a token carrying every scope the user's role may hold."""
    return await factory.token(user, scopes=[s.value for s in grantable_scopes(Role(user.role))])


async def csrf_headers(client: httpx.AsyncClient) -> dict[str, str]:
    """The header a browser's script sends with a JSON request made with its session cookie."""
    return {"X-CSRF-Token": await csrf_token(client)}


async def session_ids(kernel: Kernel, user_id: int) -> list[int]:
    async with kernel.db.reader() as session:
        rows = await session.scalars(
            select(WebSession.id).where(WebSession.user_id == user_id).order_by(WebSession.id)
        )
        return list(rows)


async def token_ids(kernel: Kernel, user_id: int) -> list[int]:
    async with kernel.db.reader() as session:
        rows = await session.scalars(select(ApiToken.id).where(ApiToken.user_id == user_id))
        return sorted(rows)


async def set_token_expiry(kernel: Kernel, token_id: int, when: datetime) -> None:
    async with kernel.db.transaction() as session:
        await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(expires_at=when))


async def audit(kernel: Kernel, action: str | None = None, **filters: Any) -> Sequence[AuditEntry]:
    """Audit entries, newest first."""
    async with kernel.db.reader() as session:
        return await list_audit_entries(session, AuditFilter(action=action, **filters), limit=500)


def form_ids(html: str, pattern: str) -> list[int]:
    """Ids in form actions like ``/account/sessions/(\\d+)/revoke``."""
    return [int(found) for found in re.findall(pattern, html)]
