"""Helpers of the live chat browser tests: a host website on another origin, the demo
workspace made independent of the clock, and a recorder of a page's WebSocket frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from playwright.async_api import Page, WebSocket
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import User
from kefu.accounts import service as accounts_service
from kefu.accounts.access import Principal, Role
from kefu.admin import service as admin_service
from kefu.channels.web_chat.models import Widget
from kefu.platform.audit import Actor
from kefu.platform.db import Database
from kefu.routing import PresenceState, set_presence
from kefu.settings import Settings
from tests.live import free_port

T = TypeVar("T")

HOST_PAGE = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>星辰家电 · 官方商城</title></head>
<body>
<h1>星辰家电 · 官方商城</h1>
<p>这是一个普通的网站，只加了一行客服代码。</p>
{snippet}
</body>
</html>
"""


# -- a website on another origin -------------------------------------------------------------------
@contextlib.contextmanager
def host_site(snippet: str, *, host: str = "localhost") -> Iterator[str]:
    """Serve a page holding ``snippet`` on another origin (another port; by default also
    another site, ``localhost`` rather than kefu's ``127.0.0.1``: the chat is then a
    third-party frame, as on any customer's website)."""
    page = HOST_PAGE.format(snippet=snippet).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            path = self.path.split("?")[0]
            found = path == "/"
            # No favicon, and no 404 for it: the tabs' console must stay clean.
            self.send_response(200 if found else 204 if path == "/favicon.ico" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:  # the base's names
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def snippet(kefu_url: str, key: str) -> str:
    """The one line an administrator pastes into their site (as the widget page shows it)."""
    return f'<script src="{kefu_url}/widget.js" data-kefu-widget="{key}" async></script>'


def png_file(path: Path, width: int = 48, height: int = 32) -> Path:
    """A small real PNG (green and orange: neither is the widget's blue), made without an image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(b"\x2d\xa4\x4e" if x < width // 2 else b"\xf0\x88\x3e" for x in range(width))
        for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


# -- the demo workspace, made ready for a test ------------------------------------------------------
@dataclass(frozen=True)
class Workspace:
    widget_key: str
    user_ids: dict[str, int]  # email -> id


async def _prepare(settings: Settings, online: frozenset[str]) -> Workspace:
    """Business hours off (the demo's are 9–18 on workdays: a test must not depend on the
    clock), and every demo user offline except ``online`` (emails)."""
    db = Database(settings.db_url)
    try:
        async with db.transaction() as session:
            await admin_service.update_workspace_settings(
                session, Actor.system("test"), clear_default_calendar=True
            )
            users = list(await session.scalars(select(User).order_by(User.id)))
            for user in users:
                state = PresenceState.online if user.email in online else PresenceState.offline
                await set_presence(session, user.id, state)
            key = await session.scalar(select(Widget.key).order_by(Widget.id).limit(1))
            assert key, "the demo has no chat widget"
            return Workspace(key, {u.email: u.id for u in users})
    finally:
        await db.dispose()


async def prepare_workspace(settings: Settings, *, online: frozenset[str] = frozenset()) -> Workspace:
    # Its own event loop in a thread: asyncpg connections belong to the loop that made them.
    return await asyncio.to_thread(lambda: asyncio.run(_prepare(settings, online)))


# -- WebSocket frames of a page (its frames' sockets included) -----------------------------------------
@dataclass
class Frames:
    """Every JSON frame a page's WebSockets received, to wait for protocol steps
    (e.g. "subscribed") that leave no trace in the DOM."""

    received: list[dict[str, Any]] = field(default_factory=list)

    def attach(self, page: Page) -> Frames:
        page.on("websocket", self._on_socket)
        return self

    def _on_socket(self, socket: WebSocket) -> None:
        socket.on("framereceived", self._on_frame)

    def _on_frame(self, payload: str | bytes) -> None:
        with contextlib.suppress(ValueError, TypeError):
            frame = json.loads(payload)
            if isinstance(frame, dict):
                self.received.append(frame)

    def mark(self) -> int:
        return len(self.received)

    async def wait(
        self, match: Callable[[dict[str, Any]], bool], *, since: int = 0, within: float = 15
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            for frame in self.received[since:]:
                if match(frame):
                    return frame
            if time.monotonic() > deadline:
                seen = [f.get("type") for f in self.received[since:]]
                raise AssertionError(f"no such WebSocket frame within {within}s; saw {seen}")
            await asyncio.sleep(0.05)

    async def subscribed(self, topic: str, *, since: int = 0, within: float = 15) -> dict[str, Any]:
        return await self.wait(
            lambda f: f.get("type") == "subscribed" and f.get("topic") == topic, since=since, within=within
        )


# -- the database of a running server, from the test -------------------------------------------------------
async def _in_database(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    db = Database(settings.db_url)
    try:
        async with db.transaction() as session:
            return await work(session)
    finally:
        await db.dispose()


async def in_database(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the server's database (rows only: the server's event
    handlers do not see such changes; make changes the server must react to through its API)."""
    return await asyncio.to_thread(lambda: asyncio.run(_in_database(settings, work)))


async def api_headers(settings: Settings, email: str) -> dict[str, str]:
    """Authorization headers with a new API token (read, write) of the user with this email."""

    async def make(session: AsyncSession) -> str:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None, email
        principal = Principal(
            user_id=user.id, email=user.email, name=user.name, role=Role(user.role), locale=None
        )
        _, raw = await accounts_service.create_api_token(
            session, principal, name=f"test {time.monotonic_ns()}", scopes=["read", "write"]
        )
        return raw

    return {"Authorization": f"Bearer {await in_database(settings, make)}"}


# A host page for phones: mobile browsers lay out a page without a viewport tag 980 pixels wide
# (the chat then opens as on a desktop); a real site has one. Added by script: the host page's
# head is fixed, and a viewport tag added to the head later is honoured.
_VIEWPORT = (
    "<script>var m = document.createElement('meta'); m.name = 'viewport';"
    " m.content = 'width=device-width, initial-scale=1'; document.head.appendChild(m);</script>"
)


def phone_snippet(kefu_url: str, key: str) -> str:
    """The snippet on a site made for phones (with a viewport tag)."""
    return _VIEWPORT + snippet(kefu_url, key)
