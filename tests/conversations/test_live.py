"""Live workspace: collision signals between agents' sockets, typing to the visitor, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from kefu.accounts.access import Role
from kefu.platform.kernel import Kernel
from kefu.platform.realtime import SIGNAL_CHANNEL
from tests.conversations.support import conversation, customer_says
from tests.factories import Factory
from tests.live import serve_in_loop


@pytest.fixture
async def live(app: Any) -> AsyncIterator[str]:
    async with serve_in_loop(app) as address:
        yield address


async def _socket(live: str, headers: dict[str, str]) -> ClientConnection:
    return await connect(f"ws://{live}/api/v1/realtime", additional_headers=headers, origin=f"http://{live}")  # type: ignore[arg-type]  # websockets' Origin type


async def _until(ws: ClientConnection, kind: str, seconds: float = 5.0) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), seconds))
        if message["type"] == kind:
            return message


async def test_viewing_and_typing_reach_the_other_agent_and_the_visitor(
    live: str, factory: Factory, kernel: Kernel
) -> None:
    wang = await factory.user(Role.agent, name="王芳")
    li = await factory.user(Role.agent, name="李雷")
    made = await conversation(kernel)
    topic = f"conversation:{made.id}"
    visitor_signals: list[dict[str, Any]] = []

    async def watch_visitor() -> None:
        async with kernel.broker.subscribe(SIGNAL_CHANNEL) as signals:
            async for raw in signals:
                body = json.loads(raw)
                if body["topic"] == f"visitor:{made.contact_id}":
                    visitor_signals.append(body)
                    return

    watcher = asyncio.create_task(watch_visitor())
    await asyncio.sleep(0.05)
    async with (
        await _socket(live, await factory.token(wang)) as sender,
        await _socket(live, await factory.token(li)) as receiver,
    ):
        for ws in (sender, receiver):
            await _until(ws, "hello")
            await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
            await _until(ws, "subscribed")
        await sender.send(json.dumps({"type": "agent.viewing", "conversation_id": made.id}))
        viewing = await _until(receiver, "signal")
        assert viewing["topic"] == topic
        assert viewing["event"] == "viewing"
        assert viewing["data"]["user_id"] == wang.id
        assert viewing["data"]["name"] == "王芳"
        await sender.send(json.dumps({"type": "agent.typing", "conversation_id": made.id, "typing": True}))
        typing = await _until(receiver, "signal")
        assert typing["event"] == "typing"
        assert typing["data"]["typing"] is True
        await asyncio.wait_for(watcher, 5)
        assert visitor_signals[0]["data"] == {"who": "agent", "typing": True}
        # A note being typed is for agents only: no visitor signal, but the colleague sees it.
        await sender.send(
            json.dumps({"type": "agent.typing", "conversation_id": made.id, "typing": True, "note": True})
        )
        note_typing = await _until(receiver, "signal")
        assert note_typing["data"]["note"] is True
        # Events of the conversation reach the page's socket too.
        await customer_says(kernel, made, "有人吗？")
        posted = await _until(receiver, "event")
        assert posted["event"] == "message.posted"
        assert posted["data"]["conversation_id"] == made.id


async def test_bad_commands_are_refused(live: str, factory: Factory, kernel: Kernel) -> None:
    agent = await factory.user(Role.agent)
    async with await _socket(live, await factory.token(agent)) as ws:
        await _until(ws, "hello")
        for command in (
            {"type": "agent.viewing"},
            {"type": "agent.viewing", "conversation_id": "7"},
            {"type": "agent.viewing", "conversation_id": True},
            {"type": "agent.typing", "conversation_id": 0, "typing": True},
        ):
            await ws.send(json.dumps(command))
            assert (await _until(ws, "error"))["code"] == "bad-request", command
        await ws.send(json.dumps({"type": "agent.typing", "conversation_id": 99999999, "typing": True}))
        assert (await _until(ws, "error"))["code"] == "not-found"
