"""Scale-out: a visitor on node A and an agent on node B (one PostgreSQL, one Redis) chat live."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from kefu.accounts.access import Role
from kefu.settings import Settings
from tests.conftest import ON_POSTGRES, REDIS_URL
from tests.factories import Factory
from tests.live import ServerProcess, running, settings_env
from tests.web_chat.support import auth, make_widget, new_id, start

pytestmark = pytest.mark.skipif(
    not (ON_POSTGRES and REDIS_URL), reason="needs KEFU_DATABASE_URL=postgresql… and KEFU_REDIS_URL"
)


async def _until(ws: ClientConnection, predicate: Any, seconds: float = 10) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if predicate(frame):
                return frame

    return await asyncio.wait_for(wait(), seconds)


def _posted(body: str) -> Any:
    return lambda f: f.get("event") == "message.posted" and f["data"]["body"] == body


async def test_a_visitor_on_one_node_and_an_agent_on_another_chat_in_real_time(
    tmp_path: Path, settings: Settings, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="跨节点坐席")
    queue = await factory.team("Scale-out queue", member_ids=[agent.id])
    widget = await make_widget(factory.kernel, queue_id=queue)
    agent_headers = await factory.token(agent)
    env = settings_env(settings)
    node_a = ServerProcess(env, log=tmp_path / "a.log")
    node_b = ServerProcess(env, log=tmp_path / "b.log")
    with running(node_a), running(node_b):
        host_a = node_a.url.removeprefix("http://")
        host_b = node_b.url.removeprefix("http://")
        async with httpx.AsyncClient(base_url=node_a.url) as visitor_api:
            session = (await visitor_api.post(f"/api/v1/widget/{widget.key}/session", json={})).json()
            conversation = await start(visitor_api, session["token"], body=None)
        conversation_id = conversation["conversation"]["id"]
        async with (
            await connect(f"ws://{host_b}/api/v1/realtime", additional_headers=agent_headers) as agent_ws,
            await connect(
                f"ws://{host_a}/api/v1/realtime?visitor_token={session['token']}",
                origin=node_a.url,  # type: ignore[arg-type]  # websockets' Origin type
            ) as visitor_ws,
        ):
            await _until(agent_ws, lambda f: f["type"] == "hello")
            await _until(visitor_ws, lambda f: f["type"] == "hello")
            await agent_ws.send(json.dumps({"type": "subscribe", "topic": f"conversation:{conversation_id}"}))
            await _until(agent_ws, lambda f: f["type"] == "subscribed")

            # Visitor → node A → PostgreSQL + Redis → node B → agent.
            client_id = new_id()
            await visitor_ws.send(
                json.dumps(
                    {
                        "type": "chat.send",
                        "conversation_id": conversation_id,
                        "client_id": client_id,
                        "body": "你好，我在 A 节点",
                    }
                )
            )
            ack = await _until(visitor_ws, lambda f: f["type"] == "chat.ack")
            assert ack["client_id"] == client_id
            seen = await _until(agent_ws, _posted("你好，我在 A 节点"))
            assert seen["data"]["author_kind"] == "customer"
            assert seen["data"]["seq"] == ack["message"]["seq"]

            # Agent → node B → visitor on node A, live.
            async with httpx.AsyncClient(base_url=node_b.url, headers=agent_headers) as agent_api:
                reply = await agent_api.post(
                    f"/api/v1/conversations/{conversation_id}/messages",
                    json={"body": "您好，我在 B 节点", "client_id": new_id()},
                )
                assert reply.status_code == 201, reply.text
                # Typing signals cross nodes too.
                await agent_ws.send(
                    json.dumps({"type": "agent.typing", "conversation_id": conversation_id, "typing": True})
                )
            delivered = await _until(visitor_ws, _posted("您好，我在 B 节点"))
            assert delivered["data"]["seq"] == ack["message"]["seq"] + 1
            typing = await _until(visitor_ws, lambda f: f["type"] == "signal" and f["event"] == "typing")
            assert typing["data"]["who"] == "agent"

        # Resuming on the other node returns the same history, each message once.
        async with httpx.AsyncClient(base_url=node_b.url) as visitor_on_b:
            history = await visitor_on_b.get(
                f"/api/v1/widget/conversations/{conversation_id}/messages",
                params={"after_seq": 0},
                headers=auth(session["token"]),
            )
        assert history.status_code == 200, history.text
        bodies = [m["body"] for m in history.json()["items"]]
        assert bodies.count("你好，我在 A 节点") == 1
        assert bodies.count("您好，我在 B 节点") == 1
