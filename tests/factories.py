"""Factories: real rows made through the real services, and logged-in clients."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import httpx

from kefu.accounts import service as accounts_service
from kefu.accounts.access import Principal, Role
from kefu.accounts.models import User
from kefu.platform.audit import Actor
from kefu.platform.kernel import Kernel

PASSWORD = "correct-horse-battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_counter = itertools.count(1)


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def csrf_token(client: httpx.AsyncClient, path: str | None = None) -> str:
    """The token a page of this client's browser session carries (any page works)."""
    for candidate in ([path] if path else []) + ["/account", "/login"]:
        response = await client.get(candidate)
        if response.status_code == 200:
            return csrf_from(response.text)
    raise AssertionError("no page with a CSRF token")


@dataclass
class Factory:
    kernel: Kernel

    async def user(
        self,
        role: Role | str = Role.agent,
        *,
        name: str | None = None,
        email: str | None = None,
        password: str | None = PASSWORD,
        team_ids: list[int] | None = None,
        **extra: Any,
    ) -> User:
        n = next(_counter)
        async with self.kernel.db.transaction() as session:
            return await accounts_service.create_user(
                session,
                Actor.system("test"),
                email=email or f"user{n}@example.com",
                name=name or f"User {n}",
                role=str(Role(role).value),
                password=password,
                team_ids=team_ids or [],
                **extra,
            )

    async def team(self, name: str | None = None, member_ids: list[int] | None = None) -> int:
        n = next(_counter)
        async with self.kernel.db.transaction() as session:
            team = await accounts_service.create_team(
                session, Actor.system("test"), name=name or f"Team {n}", member_ids=member_ids or []
            )
            return team.id

    async def token(self, user: User, scopes: list[str] | None = None) -> dict[str, str]:
        """Authorization headers with a fresh API token of ``user``."""
        principal = Principal(
            user_id=user.id, email=user.email, name=user.name, role=Role(user.role), locale=None
        )
        async with self.kernel.db.transaction() as session:
            _, raw = await accounts_service.create_api_token(
                session,
                principal,
                name=f"token {next(_counter)}",
                scopes=scopes or ["read", "write", "admin"]
                if Role(user.role) is Role.admin
                else scopes or ["read", "write"],
            )
        return {"Authorization": f"Bearer {raw}"}

    async def login(self, client: httpx.AsyncClient, user: User, password: str = PASSWORD) -> httpx.Response:
        token = await csrf_token(client, "/login")
        response = await client.post(
            "/login", data={"email": user.email, "password": password, "csrf_token": token, "next": "/"}
        )
        assert response.status_code == 303, response.text
        return response


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, Any], *, page: str | None = None
) -> httpx.Response:
    """Submit a form the way a browser does: with the CSRF token from a page of this client."""
    token = await csrf_token(client, page)
    return await client.post(path, data={**data, "csrf_token": token})
