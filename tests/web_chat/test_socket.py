"""The visitor's WebSocket: sending with acknowledgements, typing, read marks, and isolation."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect

from kefu.accounts.access import Role
from kefu.channels.web_chat.limits import SEND_BURST
from kefu.conversations import Author, post_message
from kefu.platform.kernel import Kernel
from tests.factories import Factory
from tests.platform.test_realtime import _browser, _cookie_header, _recv, _socket, _until, live
from tests.web_chat.support import auth, make_widget, session_of, start

__all__ = ["live"]


async def _visitor_socket(live: str, token: str) -> ClientConnection:
    return await connect(f"ws://{live}/api/v1/realtime?visitor_token={quote(token)}", origin=f"http://{live}")  # type: ignore[arg-type]  # websockets' Origin type


async def _visitor(live: str, kernel: Kernel, **widget: Any) -> tuple[httpx.AsyncClient, dict[str, Any], int]:
    client = httpx.AsyncClient(base_url=f"http://{live}")
    w = await make_widget(kernel, **widget)
    session = await session_of(client, w)
    conversation_id = (await start(client, session["token"], "你好"))["conversation"]["id"]
    return client, session, conversation_id


async def test_a_visitor_sends_over_the_socket_and_sees_replies(
    live: str, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="小王")
    client, session, conversation_id = await _visitor(live, kernel)
    async with await _visitor_socket(live, session["token"]) as ws:
        assert (await _recv(ws))["type"] == "hello"
        send = {
            "type": "chat.send",
            "ref": "r1",
            "conversation_id": conversation_id,
            "client_id": "c-1",
            "body": "在吗",
        }
        await ws.send(json.dumps(send))
        # The message's event is published before the answer is written, so on a fast broker it
        # may arrive first: collect both, in either order.
        frames: dict[str, dict[str, Any]] = {}
        while len(frames) < 2:
            frame = await _recv(ws)
            if frame["type"] in {"chat.ack", "event"}:
                frames[frame["type"]] = frame
        ack, own = frames["chat.ack"], frames["event"]
        assert ack["ref"] == "r1"
        assert ack["client_id"] == "c-1"
        assert ack["message"]["seq"] == 2
        assert ack["message"]["body"] == "在吗"
        # The visitor's own topic carries the message too (other tabs match it by client id)…
        assert own["topic"] == f"visitor:{session['contact_id']}"
        assert own["data"]["client_id"] == "c-1"
        # …a resend with the same client id gets the same message back…
        await ws.send(json.dumps({**send, "ref": "r2"}))
        again = await _until(ws, "chat.ack")
        assert again["message"]["id"] == ack["message"]["id"]
        # …and agents' replies arrive live, but notes do not.
        async with kernel.db.transaction() as s:
            await post_message(
                s, conversation_id, author=Author.agent(agent.id, "小王"), body="内部", is_note=True
            )
            await post_message(s, conversation_id, author=Author.agent(agent.id, "小王"), body="在的")
        reply = await _until(ws, "event")
        assert reply["event"] == "message.posted"
        assert reply["data"]["body"] == "在的"
        await ws.send(json.dumps({"type": "chat.read", "conversation_id": conversation_id, "seq": 4}))
        read = await _until(ws, "event")
        assert read["event"] == "conversation.read"
        assert read["data"]["seq"] == 4
    messages = (
        await client.get(
            f"/api/v1/widget/conversations/{conversation_id}/messages", headers=auth(session["token"])
        )
    ).json()["items"]
    assert [m["body"] for m in messages] == ["你好", "在吗", "在的"]
    await client.aclose()


async def test_a_visitor_socket_cannot_reach_other_chats(live: str, kernel: Kernel) -> None:
    alice_client, alice, alice_chat = await _visitor(live, kernel)
    bob_client, bob, bob_chat = await _visitor(live, kernel)
    async with await _visitor_socket(live, bob["token"]) as ws:
        await _until(ws, "hello")
        for topic in (
            f"visitor:{alice['contact_id']}",
            f"conversation:{alice_chat}",
            f"conversation:{bob_chat}",
            "inbox",
            "users",
        ):
            await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
            refused = await _until(ws, "error")
            assert refused["code"] == "forbidden", topic
        await ws.send(
            json.dumps({"type": "subscribe", "topic": f"visitor:{bob['contact_id']}", "last_id": 0})
        )
        assert (await _until(ws, "subscribed"))["topic"] == f"visitor:{bob['contact_id']}"
        for command in (
            {"type": "chat.send", "ref": 1, "conversation_id": alice_chat, "client_id": "x", "body": "hi"},
            {"type": "chat.typing", "ref": 2, "conversation_id": alice_chat, "typing": True},
            {"type": "chat.read", "ref": 3, "conversation_id": alice_chat, "seq": 1},
        ):
            await ws.send(json.dumps(command))
            error = await _until(ws, "error")
            assert error["code"] == "forbidden", command
            assert error["ref"] == command["ref"]
    items = (
        await alice_client.get(
            f"/api/v1/widget/conversations/{alice_chat}/messages", headers=auth(alice["token"])
        )
    ).json()["items"]
    assert [m["body"] for m in items] == ["你好"]
    await alice_client.aclose()
    await bob_client.aclose()


async def test_bad_tokens_get_no_socket(live: str, kernel: Kernel) -> None:
    client, session, _ = await _visitor(live, kernel)
    body, _, mac = session["token"].rpartition(".")
    for bad in (f"{body}.{mac[:-2]}zz", "garbage", ""):
        async with await _visitor_socket(live, bad) as ws:
            assert (await _recv(ws))["code"] == "not-authenticated"
    await client.aclose()


async def test_typing_reaches_the_agents_following_the_chat(
    live: str, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    browser = await _browser(live, factory, agent)
    client, session, conversation_id = await _visitor(live, kernel)
    async with (
        await _socket(live, cookie=_cookie_header(browser)) as agent_ws,
        await _visitor_socket(live, session["token"]) as ws,
    ):
        await _until(agent_ws, "hello")
        await agent_ws.send(json.dumps({"type": "subscribe", "topic": f"conversation:{conversation_id}"}))
        await _until(agent_ws, "subscribed")
        await _until(ws, "hello")
        await ws.send(json.dumps({"type": "chat.typing", "conversation_id": conversation_id, "typing": True}))
        signal = await _until(agent_ws, "signal")
        assert signal["event"] == "typing"
        assert signal["data"]["who"] == "customer"
        assert signal["data"]["typing"] is True
        # Agents cannot use the visitor's commands.
        await agent_ws.send(
            json.dumps(
                {"type": "chat.send", "conversation_id": conversation_id, "client_id": "a", "body": "x"}
            )
        )
        assert (await _until(agent_ws, "error"))["code"] == "forbidden"
    await browser.aclose()
    await client.aclose()


async def test_sending_too_fast_on_the_socket_is_refused(live: str, kernel: Kernel) -> None:
    client, session, conversation_id = await _visitor(live, kernel)
    async with await _visitor_socket(live, session["token"]) as ws:
        await _until(ws, "hello")
        codes = []
        for n in range(SEND_BURST + 1):
            await ws.send(
                json.dumps(
                    {
                        "type": "chat.send",
                        "ref": n,
                        "conversation_id": conversation_id,
                        "client_id": f"m{n}",
                        "body": "x",
                    }
                )
            )
            while True:
                frame = await _recv(ws)
                if frame.get("ref") == n:
                    codes.append(frame.get("code", frame["type"]))
                    break
    # start() already spent one token of the burst.
    assert codes.count("chat.ack") == SEND_BURST - 1
    assert codes[-2:] == ["rate-limited", "rate-limited"]
    await client.aclose()


async def test_bad_commands_are_answered_not_crashed(live: str, kernel: Kernel) -> None:
    client, session, conversation_id = await _visitor(live, kernel)
    async with await _visitor_socket(live, session["token"]) as ws:
        await _until(ws, "hello")
        for command in (
            {"type": "chat.send", "conversation_id": "1", "client_id": "a", "body": "x"},
            {"type": "chat.send", "conversation_id": 2**40, "client_id": "a", "body": "x"},
            {"type": "chat.send", "conversation_id": conversation_id, "client_id": "a b", "body": "x"},
            {"type": "chat.send", "conversation_id": conversation_id, "client_id": "a", "body": ["x"]},
            {"type": "chat.read", "conversation_id": conversation_id, "seq": -1},
            {"type": "chat.typing", "conversation_id": True},
        ):
            await ws.send(json.dumps(command))
            assert (await _until(ws, "error"))["code"] == "bad-request", command
        await ws.send(
            json.dumps(
                {"type": "chat.send", "conversation_id": conversation_id, "client_id": "a", "body": " "}
            )
        )
        assert (await _until(ws, "error"))["code"] == "invalid-input"
    await client.aclose()
