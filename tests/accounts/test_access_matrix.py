"""The permission matrix, cell by cell: every role against every protected route.

The expected outcome of each call is derived from ``ROLE_PERMISSIONS`` (and, for tokens,
from ``REQUIRED_SCOPE``), never written out by hand, so the matrix stays the single
source. A table entry names the permission a route needs (``None``: any logged-in user).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.routing import APIRoute

from kefu.accounts import api as accounts_api
from kefu.accounts import pages as accounts_pages
from kefu.accounts import service
from kefu.accounts.access import REQUIRED_SCOPE, ROLE_PERMISSIONS, Permission, Role, Scope, grantable_scopes
from kefu.admin import api as admin_api
from kefu.admin import pages as admin_pages
from kefu.platform.kernel import Kernel
from tests.accounts.support import (
    NEW_PASSWORD,
    PROBLEM_JSON,
    assert_html,
    assert_problem,
    browser,
    full_token,
    session_ids,
    token_ids,
)
from tests.factories import PASSWORD, Factory, csrf_token

P = Permission


@dataclass(frozen=True)
class World:
    """What a call needs to exist: the acting user's objects and someone else to act on."""

    tag: str  # the role of the actor: keeps names of one role's objects apart from another's
    user: int  # another user (an agent)
    team: int
    token: int  # a second API token of the actor
    session: int  # a second browser session of the actor
    job: int = 1  # no such job: allowed callers get 404, after the permission check

    def fill(self, text: str) -> str:
        return text.format(
            user=self.user, team=self.team, token=self.token, session=self.session, job=self.job
        )


Body = Callable[[World], dict[str, Any]] | None


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    permission: Permission | None  # None: any logged-in user
    ok: int  # the status when allowed
    body: Body = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


API_CALLS = [
    Call("GET", "/api/v1/me", None, 200),
    Call("PATCH", "/api/v1/me", P.profile_edit, 200, lambda w: {"name": "Renamed Me"}),
    Call(
        "POST",
        "/api/v1/me/password",
        P.profile_edit,
        204,
        lambda w: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    ),
    Call("GET", "/api/v1/users", P.users_view, 200),
    Call(
        "POST",
        "/api/v1/users",
        P.users_manage,
        201,
        lambda w: {"email": f"new.{w.tag}@example.com", "name": "New User", "role": "agent"},
    ),
    Call("GET", "/api/v1/users/{user}", P.users_view, 200),
    Call("PATCH", "/api/v1/users/{user}", P.users_manage, 200, lambda w: {"name": "Renamed"}),
    Call("PUT", "/api/v1/users/{user}/password", P.users_manage, 204, lambda w: {"password": NEW_PASSWORD}),
    Call("POST", "/api/v1/users/{user}/logout-everywhere", P.users_manage, 204),
    Call("GET", "/api/v1/teams", P.teams_view, 200),
    Call("POST", "/api/v1/teams", P.teams_manage, 201, lambda w: {"name": f"New team {w.tag}"}),
    Call("GET", "/api/v1/teams/{team}", P.teams_view, 200),
    Call("PATCH", "/api/v1/teams/{team}", P.teams_manage, 200, lambda w: {"description": "Changed"}),
    Call("DELETE", "/api/v1/teams/{team}", P.teams_manage, 204),
    Call("PUT", "/api/v1/teams/{team}/members", P.teams_manage, 200, lambda w: {"user_ids": [w.user]}),
    Call("GET", "/api/v1/roles", P.roles_view, 200),
    # Every user sees the workspace's name and time zone (every page shows them too).
    Call("GET", "/api/v1/settings", None, 200),
    Call("PATCH", "/api/v1/settings", P.settings_manage, 200, lambda w: {"name": "Renamed workspace"}),
    Call("GET", "/api/v1/audit", P.audit_view, 200),
    Call("GET", "/api/v1/jobs", P.jobs_manage, 200),
    Call("GET", "/api/v1/jobs/counts", P.jobs_manage, 200),
    Call("POST", "/api/v1/jobs/{job}/retry", P.jobs_manage, 404),
    Call("DELETE", "/api/v1/jobs/{job}", P.jobs_manage, 404),
    Call("GET", "/api/v1/tokens", None, 200),
    Call("POST", "/api/v1/tokens", P.tokens_manage, 201, lambda w: {"name": "Script", "scopes": ["read"]}),
    Call("DELETE", "/api/v1/tokens/{token}", P.tokens_manage, 204),
]

PAGES = [
    Call("GET", "/", None, 200),
    Call("GET", "/account", None, 200),
    # The overview lists only what the user may open (see test_the_overview_shows_...).
    Call("GET", "/admin", None, 200),
    Call("GET", "/admin/users", P.users_view, 200),
    Call("GET", "/admin/users/new", P.users_manage, 200),
    Call("GET", "/admin/users/{user}", P.users_manage, 200),
    Call("GET", "/admin/teams", P.teams_view, 200),
    Call("GET", "/admin/teams/new", P.teams_manage, 200),
    Call("GET", "/admin/teams/{team}", P.teams_manage, 200),
    Call("GET", "/admin/roles", P.roles_view, 200),
    Call("GET", "/admin/settings", P.settings_manage, 200),
    Call("GET", "/admin/audit", P.audit_view, 200),
    Call("GET", "/admin/jobs", P.jobs_manage, 200),
]

FORMS = [
    Call(
        "POST",
        "/admin/users",
        P.users_manage,
        303,
        lambda w: {"email": f"new.{w.tag}@example.com", "name": "New User", "role": "agent"},
    ),
    Call(
        "POST",
        "/admin/users/{user}",
        P.users_manage,
        303,
        lambda w: {
            "email": f"target-{w.tag}@example.com",
            "name": "Renamed",
            "role": "agent",
            "is_active": "1",
        },
    ),
    Call("POST", "/admin/users/{user}/password", P.users_manage, 303, lambda w: {"password": NEW_PASSWORD}),
    Call("POST", "/admin/users/{user}/logout-everywhere", P.users_manage, 303),
    Call("POST", "/admin/teams", P.teams_manage, 303, lambda w: {"name": f"New team {w.tag}"}),
    Call("POST", "/admin/teams/{team}", P.teams_manage, 303, lambda w: {"name": f"Renamed team {w.tag}"}),
    Call("POST", "/admin/teams/{team}/delete", P.teams_manage, 303),
    Call(
        "POST",
        "/admin/settings",
        P.settings_manage,
        303,
        lambda w: {"name": "Renamed workspace", "timezone": "Asia/Shanghai"},
    ),
    Call("POST", "/admin/jobs/{job}/retry", P.jobs_manage, 404),
    Call("POST", "/admin/jobs/{job}/discard", P.jobs_manage, 404),
    Call("POST", "/account/profile", P.profile_edit, 303, lambda w: {"name": "Renamed Me"}),
    Call(
        "POST",
        "/account/password",
        P.profile_edit,
        303,
        lambda w: {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    ),
    Call("POST", "/account/sessions/{session}/revoke", P.profile_edit, 303),
    Call("POST", "/account/logout-everywhere", P.profile_edit, 303),
    Call("POST", "/account/tokens", P.tokens_manage, 200, lambda w: {"name": "Script", "scopes": "read"}),
    Call("POST", "/account/tokens/{token}/revoke", P.tokens_manage, 303),
    Call("POST", "/lang", None, 303, lambda w: {"locale": "en", "next": "/account"}),
    Call("POST", "/logout", None, 303),
]

# Routes of these routers that need no login (checked in test_login.py).
PUBLIC = {("GET", "/login"), ("POST", "/login")}

# What "admin-only" means in the product: only administrators hold these.
ADMIN_ONLY = {
    P.users_manage,
    P.settings_manage,
    P.audit_view,
    P.jobs_manage,
    P.calendars_manage,
    P.channels_manage,
    P.routing_manage,
}
EVERYONE = {
    P.profile_edit,
    P.tokens_manage,
    P.teams_view,
    P.calendars_view,
    P.conversations_view,
    P.conversations_reply,
}


def allowed(role: Role, call: Call) -> bool:
    return call.permission is None or call.permission in ROLE_PERMISSIONS[role]


async def make_world(
    factory: Factory, kernel: Kernel, role: Role, call: Call, *, browser: httpx.AsyncClient | None = None
) -> tuple[dict[str, str], World]:
    """The actor, with a token of every scope their role may hold, and someone to act on.

    Every role gets its own actor, target and team, so the roles of one test do not meet.
    With ``browser``, the actor is also logged in there; the objects a call's path names
    (a second token, a second browser session) are made only when the call needs them.
    """
    tag = role.value
    actor = await factory.user(role, email=f"actor-{tag}@example.com", name=f"Actor {tag}")
    target = await factory.user(Role.agent, email=f"target-{tag}@example.com", name=f"Target {tag}")
    team = await factory.team(f"Matrix team {tag}", [target.id])
    headers = await full_token(factory, actor)
    token = session = 0
    if "{token}" in call.path:
        await factory.token(actor, scopes=["read"])
        token = (await token_ids(kernel, actor.id))[-1]
    if "{session}" in call.path:
        async with kernel.db.transaction() as db:
            await service.login(
                db,
                email=actor.email,
                password=PASSWORD,
                ip=None,
                user_agent="other browser",
                ttl=timedelta(hours=1),
                max_failures=5,
                lockout=timedelta(minutes=1),
            )
        session = (await session_ids(kernel, actor.id))[0]
    if browser is not None:
        await factory.login(browser, actor)
    return headers, World(tag=tag, user=target.id, team=team, token=token, session=session)


def cases(calls: list[Call]) -> list[Any]:
    return [pytest.param(call, id=str(call)) for call in calls]


def outcome(role: Role, call: Call, response: httpx.Response) -> str | None:
    """What is wrong with this response for this cell of the matrix (None: nothing)."""
    status = response.status_code
    if allowed(role, call):
        return (
            None
            if status == call.ok
            else f"{role.value}: expected {call.ok}, got {status} {response.text[:200]}"
        )
    if status != 403:
        return f"{role.value}: expected 403, got {status}"
    content_type = response.headers.get("content-type", "")
    if call.path.startswith("/api/"):
        if not content_type.startswith(PROBLEM_JSON) or response.json()["code"] != "permission-denied":
            return f"{role.value}: not a permission-denied problem: {content_type} {response.text[:200]}"
    elif not content_type.startswith("text/html") or "Permission denied" not in response.text:
        return f"{role.value}: not the 403 page: {content_type}"
    return None


# -- the API, with a token carrying every scope the role may hold -------------------------------------
@pytest.mark.parametrize("call", cases(API_CALLS))
async def test_api_route_follows_the_matrix(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel, call: Call
) -> None:
    wrong = []
    for role in Role:
        headers, world = await make_world(factory, kernel, role, call)
        body = call.body(world) if call.body else None
        response = await client.request(call.method, world.fill(call.path), json=body, headers=headers)
        wrong.append(outcome(role, call, response))
    assert [w for w in wrong if w] == []


# -- the HTML pages, with a browser session ------------------------------------------------------------
@pytest.mark.parametrize("call", cases(PAGES))
async def test_page_follows_the_matrix(app: Any, factory: Factory, kernel: Kernel, call: Call) -> None:
    wrong = []
    for role in Role:
        async with browser(app) as client:
            _, world = await make_world(factory, kernel, role, call, browser=client)
            response = await client.get(world.fill(call.path))
            if allowed(role, call) and response.status_code == call.ok:
                assert_html(response, call.ok)
            wrong.append(outcome(role, call, response))
    assert [w for w in wrong if w] == []


@pytest.mark.parametrize("call", cases(FORMS))
async def test_form_follows_the_matrix(app: Any, factory: Factory, kernel: Kernel, call: Call) -> None:
    wrong = []
    for role in Role:
        async with browser(app) as client:
            _, world = await make_world(factory, kernel, role, call, browser=client)
            data = {**(call.body(world) if call.body else {}), "csrf_token": await csrf_token(client)}
            response = await client.post(world.fill(call.path), data=data)
            wrong.append(outcome(role, call, response))
    assert [w for w in wrong if w] == []


# -- nobody logged in ------------------------------------------------------------------------------------
NOBODY = World(tag="nobody", user=1, team=1, token=1, session=1)


async def test_the_api_without_credentials_is_401_problem(client: httpx.AsyncClient) -> None:
    for call in API_CALLS:
        body = call.body(NOBODY) if call.body else None
        response = await client.request(call.method, NOBODY.fill(call.path), json=body)
        assert response.status_code == 401, (str(call), response.status_code)
        assert_problem(response, 401, "not-authenticated")


async def test_the_api_with_only_a_csrf_token_is_401_problem(client: httpx.AsyncClient) -> None:
    """A browser that is not logged in (it has the CSRF cookie and sends the token)."""
    headers = {"X-CSRF-Token": await csrf_token(client, "/login")}
    for call in API_CALLS:
        body = call.body(NOBODY) if call.body else None
        response = await client.request(call.method, NOBODY.fill(call.path), json=body, headers=headers)
        assert response.status_code == 401, (str(call), response.status_code)
        assert_problem(response, 401, "not-authenticated")


async def test_pages_without_login_redirect_to_the_login_page(client: httpx.AsyncClient) -> None:
    for call in PAGES:
        path = NOBODY.fill(call.path)
        response = await client.get(path, params={"x": "1"})
        assert response.status_code == 303, str(call)
        assert response.headers["location"] == "/login?" + urlencode({"next": f"{path}?x=1"})


async def test_forms_without_login_are_refused(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client, "/login")
    for call in FORMS:
        if call.path in {"/lang", "/logout"}:
            continue  # these work for anybody
        data = {**(call.body(NOBODY) if call.body else {}), "csrf_token": token}
        response = await client.post(NOBODY.fill(call.path), data=data)
        assert response.status_code == 401, (str(call), response.status_code)
        assert "Login required" in assert_html(response, 401)


# -- the table and the matrix themselves -------------------------------------------------------------
ALL_CALLS = API_CALLS + PAGES + FORMS
PLACEHOLDERS = {
    name: name.replace("}", "_id}") for name in ("{user}", "{team}", "{token}", "{session}", "{job}")
}

# Everything an agent may reach: their own account and tokens, the team list, the workspace's
# name, the start page and the administration overview (which then lists only teams).
AGENT_MAY_REACH = {
    "GET /",
    "GET /account",
    "GET /admin",
    "GET /admin/teams",
    "GET /api/v1/me",
    "PATCH /api/v1/me",
    "POST /api/v1/me/password",
    "GET /api/v1/settings",
    "GET /api/v1/teams",
    "GET /api/v1/teams/{team}",
    "GET /api/v1/tokens",
    "POST /api/v1/tokens",
    "DELETE /api/v1/tokens/{token}",
    "POST /account/profile",
    "POST /account/password",
    "POST /account/sessions/{session}/revoke",
    "POST /account/logout-everywhere",
    "POST /account/tokens",
    "POST /account/tokens/{token}/revoke",
    "POST /lang",
    "POST /logout",
}


def _route_path(path: str) -> str:
    for ours, theirs in PLACEHOLDERS.items():
        path = path.replace(ours, theirs)
    return path


def test_the_tables_cover_every_route_of_accounts_and_admin() -> None:
    """A new route must be added to the tables above (and so to the matrix tests)."""
    routes = {
        (method, route.path)
        for router in (accounts_api.router, accounts_pages.router, admin_api.router, admin_pages.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    covered = {(call.method, _route_path(call.path)) for call in ALL_CALLS}
    assert routes - covered - PUBLIC == set(), "add these routes to the matrix tables"
    assert covered - routes == set(), "the tables name routes that do not exist"


def test_every_permission_needs_a_scope_some_role_can_grant() -> None:
    assert set(REQUIRED_SCOPE) == set(Permission)
    for role in Role:
        for permission in ROLE_PERMISSIONS[role]:
            assert REQUIRED_SCOPE[permission] in grantable_scopes(role), (role, permission)


def test_the_matrix_keeps_its_promises() -> None:
    """Administrators may do everything; agents only what every user may; admin-only stays admin-only."""
    assert ROLE_PERMISSIONS[Role.admin] == frozenset(Permission)
    assert ROLE_PERMISSIONS[Role.agent] == frozenset(EVERYONE)
    assert ROLE_PERMISSIONS[Role.agent] < ROLE_PERMISSIONS[Role.supervisor] < ROLE_PERMISSIONS[Role.admin]
    for permission in ADMIN_ONLY:
        holders = {role for role in Role if permission in ROLE_PERMISSIONS[role]}
        assert holders == {Role.admin}, permission
        # A read/write token of an administrator is not enough for these.
        assert REQUIRED_SCOPE[permission] is Scope.admin, permission
    assert grantable_scopes(Role.agent) == [Scope.read, Scope.write]
    assert grantable_scopes(Role.admin) == [Scope.read, Scope.write, Scope.admin]


def test_an_agent_can_reach_no_admin_page_or_admin_api_route() -> None:
    """What the matrix lets an agent reach (the route tests above prove the routes obey it)."""
    reachable = {str(call) for call in ALL_CALLS if allowed(Role.agent, call)}
    assert reachable == AGENT_MAY_REACH


async def test_the_overview_shows_an_agent_only_what_an_agent_may_open(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    await factory.login(client, agent)
    for path in ("/", "/admin", "/account"):
        html = assert_html(await client.get(path), 200)
        for closed in ("/admin/users", "/admin/roles", "/admin/settings", "/admin/audit", "/admin/jobs"):
            assert f'href="{closed}' not in html, (path, closed)
    assert 'href="/admin/teams"' in assert_html(await client.get("/admin"), 200)


async def test_the_overview_shows_an_admin_every_section(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    html = assert_html(await client.get("/admin"), 200)
    for section in ("/admin/users", "/admin/teams", "/admin/roles", "/admin/settings", "/admin/audit"):
        assert f'href="{section}"' in html, section
