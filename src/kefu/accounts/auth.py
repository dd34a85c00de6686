"""Authentication of requests and sockets: session cookie or ``Authorization: Bearer`` token.

A request that carries an Authorization header is judged by it alone; cookies are then
ignored (which is also why such requests need no CSRF token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from kefu.accounts import queries, service
from kefu.accounts.access import Permission, Principal
from kefu.platform.db import utcnow
from kefu.platform.errors import NotAuthenticated
from kefu.platform.kernel import get_kernel
from kefu.platform.realtime import Subscriber

TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


SESSION_COOKIES = frozenset({"kefu_session", "__Host-kefu_session"})


def session_cookie_name(https: bool) -> str:
    # The __Host- prefix pins the cookie to this exact host, path / and HTTPS.
    return "__Host-kefu_session" if https else "kefu_session"


def client_ip(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


async def resolve_principal(conn: HTTPConnection) -> Principal | None:
    state = conn.scope.setdefault("state", {})
    if "principal" in state:
        cached: Principal | None = state["principal"]
        return cached
    kernel = get_kernel(conn)
    ip = client_ip(conn)
    header = conn.headers.get("authorization")
    principal: Principal | None = None
    if header is not None:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise NotAuthenticated("Use 'Authorization: Bearer <token>' with a kefu API token.")
        async with kernel.db.reader() as session:
            found = await queries.authenticate_token(session, raw.strip(), ip=ip)
        if found is None:
            raise NotAuthenticated("The API token is invalid, expired or revoked.")
        principal = found.principal
        last_used = found.token_last_used_at
        if principal.token_id is not None and (
            last_used is None or utcnow() - last_used > TOKEN_TOUCH_INTERVAL
        ):
            async with kernel.db.transaction() as session:
                await service.note_token_use(session, principal.token_id)
    else:
        raw_cookie = conn.cookies.get(session_cookie_name(kernel.settings.https))
        if raw_cookie:
            async with kernel.db.reader() as session:
                found = await queries.authenticate_session(session, raw_cookie, ip=ip)
            if found is not None:
                principal = found.principal
                if (
                    principal.session_id is not None
                    and found.last_seen_at is not None
                    and service.session_needs_touch(found.last_seen_at)
                ):
                    ttl = timedelta(hours=kernel.settings.session_ttl_hours)
                    async with kernel.db.transaction() as session:
                        await service.touch_session(session, principal.session_id, ttl)
    state["principal"] = principal
    return principal


async def optional_principal(request: Request) -> Principal | None:
    return await resolve_principal(request)


async def require_principal(request: Request) -> Principal:
    principal = await resolve_principal(request)
    if principal is None:
        raise NotAuthenticated("Log in to continue.")
    return principal


def require(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that lets the request through only with ``permission``."""

    async def check(request: Request) -> Principal:
        principal = await require_principal(request)
        principal.require(permission)
        return principal

    check.__name__ = f"require_{permission.value.replace('.', '_')}"
    return check


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def authenticate_socket(websocket: WebSocket) -> Subscriber | None:
    """The realtime hub's authenticator: the same cookie or token as HTTP."""
    try:
        principal = await resolve_principal(websocket)
    except NotAuthenticated:
        return None
    if principal is None:
        return None
    kernel = get_kernel(websocket)
    session_id = principal.session_id

    async def still_valid() -> bool:
        if session_id is None:
            return True  # token sockets are checked on connect; revoking a token ends its next connect
        async with kernel.db.reader() as session:
            return await queries.session_is_live(session, session_id)

    return Subscriber(
        label=principal.name,
        private_topic=f"user:{principal.user_id}",
        still_valid=still_valid,
        principal=principal,
    )
