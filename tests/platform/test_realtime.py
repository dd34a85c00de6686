"""The realtime hub over a real WebSocket: authentication, topic permissions, live events,
resume after a gap, reload when the gap is too old, and revocation."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect, WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kefu.accounts.access import Role
from kefu.accounts.models import User
from kefu.platform.backends import FeedItem
from kefu.platform.kernel import Kernel
from kefu.platform.realtime import Subscriber, _Connection
from tests.factories import Factory, post_form
from tests.live import serve_in_loop


@pytest.fixture
async def live(app: Any) -> AsyncIterator[str]:
    async with serve_in_loop(app) as address:
        yield address


async def _browser(live: str, factory: Factory, user: User) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=f"http://{live}")
    await factory.login(client, user)
    return client


def _cookie_header(client: httpx.AsyncClient) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def _socket(
    live: str, *, cookie: str | None = None, token: dict[str, str] | None = None, origin: str | None = None
) -> ClientConnection:
    headers = dict(token or {})
    if cookie:
        headers["Cookie"] = cookie
    return await connect(
        f"ws://{live}/api/v1/realtime", additional_headers=headers, origin=origin or f"http://{live}"
    )  # type: ignore[arg-type]  # websockets' Origin type


async def _recv(ws: ClientConnection, seconds: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), seconds))
    return message


async def _until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message = await _recv(ws)
        if message["type"] == kind:
            return message


async def test_a_socket_without_login_is_refused(live: str) -> None:
    ws = await _socket(live)
    message = await _recv(ws)
    assert message["code"] == "not-authenticated"
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_a_logged_in_admin_gets_user_events_live(live: str, factory: Factory) -> None:
    admin = await factory.user(Role.admin)
    browser = await _browser(live, factory, admin)
    async with await _socket(live, cookie=_cookie_header(browser)) as ws:
        assert (await _recv(ws))["type"] == "hello"
        await ws.send(json.dumps({"type": "subscribe", "topic": "users"}))
        subscribed = await _until(ws, "subscribed")
        await factory.user(Role.agent, name="新来的客服")
        event = await _until(ws, "event")
    await browser.aclose()
    assert event["topic"] == "users"
    assert event["event"] == "user.created"
    assert event["data"]["display_name"] == "新来的客服"
    assert event["id"] == subscribed["last_id"] + 1


async def test_topic_permissions_are_checked(live: str, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    other = await factory.user(Role.agent)
    headers = await factory.token(agent, ["read"])
    async with await _socket(live, token=headers) as ws:
        await _recv(ws)
        for topic in ("users", f"user:{other.id}", "nonsense:1"):
            await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
            refused = await _until(ws, "error")
            assert refused["code"] == "forbidden", topic
        await ws.send(json.dumps({"type": "subscribe", "topic": "teams"}))
        assert (await _until(ws, "subscribed"))["topic"] == "teams"


async def test_bad_messages_get_errors_and_the_socket_stays_open(live: str, factory: Factory) -> None:
    user = await factory.user(Role.agent)
    async with await _socket(live, token=await factory.token(user, ["read"])) as ws:
        await _recv(ws)
        for raw in (
            "not json",
            "[1, 2]",
            json.dumps({"type": "dance"}),
            json.dumps({"type": "subscribe", "topic": "BAD TOPIC"}),
            json.dumps({"type": "subscribe", "topic": "teams", "last_id": -3}),
        ):
            await ws.send(raw)
            assert (await _until(ws, "error"))["code"] == "bad-request"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await _recv(ws))["type"] == "pong"


async def test_a_client_resumes_from_its_last_id(live: str, factory: Factory, kernel: Kernel) -> None:
    user = await factory.user(Role.agent)
    hub = kernel.hub
    assert hub is not None
    first = await hub.publish("teams", "test.tick", {"n": 1})
    for n in range(2, 5):
        await hub.publish("teams", "test.tick", {"n": n})  # sent while the client was away
    async with await _socket(live, token=await factory.token(user, ["read"])) as ws:
        await _recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "topic": "teams", "last_id": first}))
        await _until(ws, "subscribed")
        missed = [await _until(ws, "event") for _ in range(3)]
        await hub.publish("teams", "test.tick", {"n": 5})
        live_event = await _until(ws, "event")
    assert [m["data"]["n"] for m in missed] == [2, 3, 4]
    assert [m["id"] for m in missed] == [first + 1, first + 2, first + 3]
    assert live_event["data"]["n"] == 5


@pytest.mark.parametrize("case", ["too-old", "from-the-future"])
async def test_a_gap_that_cannot_be_filled_asks_for_a_reload(
    live: str, factory: Factory, kernel: Kernel, case: str
) -> None:
    user = await factory.user(Role.agent)
    hub = kernel.hub
    assert hub is not None
    last = 0
    for n in range(520):  # more than the 500 items a topic keeps
        last = await hub.publish("teams", "test.tick", {"n": n})
    asked = 1 if case == "too-old" else last + 1000
    async with await _socket(live, token=await factory.token(user, ["read"])) as ws:
        await _recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "topic": "teams", "last_id": asked}))
        reload = await _until(ws, "reload")
        assert reload == {"type": "reload", "topic": "teams", "last_id": last}
        await hub.publish("teams", "test.tick", {"n": "after"})
        after = await _until(ws, "event")
    assert after["id"] == last + 1


async def test_a_page_on_another_site_cannot_open_a_socket_with_our_cookies(
    live: str, factory: Factory
) -> None:
    user = await factory.user(Role.admin)
    browser = await _browser(live, factory, user)
    with pytest.raises(InvalidStatus, match=r"HTTP 403"):  # refused at the handshake
        await _socket(live, cookie=_cookie_header(browser), origin="https://evil.example")
    await browser.aclose()


async def test_logging_out_everywhere_closes_the_users_sockets(live: str, factory: Factory) -> None:
    user = await factory.user(Role.agent)
    browser = await _browser(live, factory, user)
    ws = await _socket(live, cookie=_cookie_header(browser))
    await _recv(ws)
    async with httpx.AsyncClient(base_url=f"http://{live}") as other_browser:
        await factory.login(other_browser, user)
        response = await post_form(other_browser, "/account/logout-everywhere", {})
        assert response.status_code == 303
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
    await browser.aclose()


async def _drain(ws: ClientConnection) -> None:
    """Read until the server closes the socket (raises ConnectionClosed)."""
    while True:
        await asyncio.wait_for(ws.recv(), 5)


class _GoneSocket:
    """A socket whose client has gone: every send raises what Starlette raises then."""

    application_state = WebSocketState.CONNECTED

    async def send_text(self, data: str) -> None:
        raise WebSocketDisconnect(code=1006)


async def test_a_client_gone_mid_delivery_ends_its_pump_quietly(
    kernel: Kernel, caplog: pytest.LogCaptureFixture
) -> None:
    assert kernel.hub is not None
    subscriber = Subscriber("test", "user:0", lambda: asyncio.sleep(0, True))
    conn = _Connection(_GoneSocket(), subscriber)  # type: ignore[arg-type]  # only send_text is used
    conn.last["inbox"] = 0
    await conn.inbox.put(FeedItem("inbox", 1, json.dumps({"event": "x", "data": {}})))
    # Before: the disconnect escaped the pump and the endpoint logged "Exception in ASGI application".
    await asyncio.wait_for(kernel.hub._pump(conn), 5)
    assert conn.closed
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
