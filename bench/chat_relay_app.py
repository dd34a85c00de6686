"""The live chat benchmark's baseline: a bare Starlette WebSocket relay with kefu's wire shapes.

``uvicorn --app-dir bench chat_relay_app:app --ws websockets-sansio``. It answers the few
routes bench/chat_load.py uses, with the same paths, bodies and frames as kefu, and keeps
everything in memory: no database, authentication, validation, broker or event history.

* ``POST /api/v1/widget/{key}/session`` → a visitor token and contact id;
* ``POST /api/v1/widget/conversations`` (``Authorization: Visitor <token>``) → a conversation;
* ``/api/v1/realtime?visitor_token=…``: a visitor socket; ``chat.send`` is answered with
  ``chat.ack`` and the message goes as a ``message.posted`` event to the visitor's own socket
  and to every socket subscribed to ``inbox``;
* ``/api/v1/realtime`` with any other credentials: an agent socket (``subscribe`` → ``subscribed``);
* ``POST /api/v1/conversations/{id}/messages`` → 201, and the reply goes to the visitor's
  socket and to ``inbox``, as kefu does.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


@dataclass
class Relay:
    contacts: dict[str, int] = field(default_factory=dict)  # visitor token -> contact id
    conversations: dict[int, int] = field(default_factory=dict)  # conversation id -> contact id
    visitors: dict[int, WebSocket] = field(default_factory=dict)  # contact id -> socket
    inbox: set[WebSocket] = field(default_factory=set)
    seq: dict[str, int] = field(default_factory=dict)  # topic -> last event id
    messages: int = 0

    def message(
        self, conversation_id: int, kind: str, name: str, body: str, client_id: Any
    ) -> dict[str, Any]:
        self.messages += 1
        return {
            "conversation_id": conversation_id,
            "contact_id": self.conversations[conversation_id],
            "message_id": self.messages,
            "seq": self.messages,
            "author_kind": kind,
            "author_name": name,
            "author_user_id": 1 if kind == "agent" else None,
            "body": body,
            "is_note": False,
            "client_id": client_id,
            "created_at": datetime.now(UTC).isoformat(),
            "attachments": [],
            "kind": "",
        }

    async def publish(self, topic: str, socket: WebSocket, data: dict[str, Any]) -> None:
        self.seq[topic] = self.seq.get(topic, 0) + 1
        frame = {
            "type": "event",
            "topic": topic,
            "id": self.seq[topic],
            "event": "message.posted",
            "data": data,
        }
        # The socket may have gone between lookup and send; the benchmark counts that as loss.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await socket.send_text(json.dumps(frame, ensure_ascii=False))

    async def fan_out(self, data: dict[str, Any]) -> None:
        """To the visitor's socket, then to every agent following ``inbox`` (kefu's topics)."""
        visitor = self.visitors.get(data["contact_id"])
        if visitor is not None:
            await self.publish(f"visitor:{data['contact_id']}", visitor, data)
        for agent in list(self.inbox):
            await self.publish("inbox", agent, data)


RELAY = Relay()


def _visitor_token(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Visitor ").strip()


async def readyz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "checks": {"database": "ok", "broker": "ok"}})


async def open_session(request: Request) -> JSONResponse:
    await request.json()
    token = secrets.token_urlsafe(24)
    contact_id = len(RELAY.contacts) + 1
    RELAY.contacts[token] = contact_id
    return JSONResponse(
        {"token": token, "contact_id": contact_id, "widget": {}, "online": True, "conversation": None}
    )


async def start_conversation(request: Request) -> JSONResponse:
    await request.json()
    contact_id = RELAY.contacts.get(_visitor_token(request))
    if contact_id is None:
        return JSONResponse({"title": "Not authenticated"}, status_code=401)
    conversation_id = len(RELAY.conversations) + 1
    RELAY.conversations[conversation_id] = contact_id
    conversation = {"id": conversation_id, "status": "open", "contact_id": contact_id}
    return JSONResponse({"conversation": conversation, "messages": []}, status_code=201)


async def agent_reply(request: Request) -> JSONResponse:
    conversation_id = int(request.path_params["conversation_id"])
    body = await request.json()
    if conversation_id not in RELAY.conversations:
        return JSONResponse({"title": "Not found"}, status_code=404)
    data = RELAY.message(conversation_id, "agent", "Bench Admin", body.get("body", ""), body.get("client_id"))
    await RELAY.fan_out(data)
    return JSONResponse(data, status_code=201)


async def realtime(websocket: WebSocket) -> None:
    token = websocket.query_params.get("visitor_token")
    contact_id = RELAY.contacts.get(token) if token else None
    await websocket.accept()
    label = f"visitor {contact_id}" if contact_id is not None else "agent"
    await websocket.send_text(json.dumps({"type": "hello", "subscriber": label}))
    if contact_id is not None:
        RELAY.visitors[contact_id] = websocket
    try:
        while True:
            command = json.loads(await websocket.receive_text())
            kind = command.get("type")
            if kind == "chat.send" and contact_id is not None:
                data = RELAY.message(
                    int(command["conversation_id"]), "customer", "", command["body"], command["client_id"]
                )
                ack = {"type": "chat.ack", "client_id": command["client_id"], "message": data}
                await websocket.send_text(json.dumps(ack, ensure_ascii=False))
                await RELAY.fan_out(data)
            elif kind == "subscribe":
                RELAY.inbox.add(websocket)
                frame = {"type": "subscribed", "topic": command.get("topic"), "last_id": 0}
                await websocket.send_text(json.dumps(frame))
            elif kind == "ping":
                await websocket.send_text(json.dumps({"type": "pong"}))
    except WebSocketDisconnect:
        pass
    finally:
        RELAY.inbox.discard(websocket)
        if contact_id is not None and RELAY.visitors.get(contact_id) is websocket:
            del RELAY.visitors[contact_id]


app = Starlette(
    routes=[
        Route("/readyz", readyz),
        Route("/api/v1/widget/conversations", start_conversation, methods=["POST"]),
        Route("/api/v1/widget/{key}/session", open_session, methods=["POST"]),
        Route("/api/v1/conversations/{conversation_id:int}/messages", agent_reply, methods=["POST"]),
        WebSocketRoute("/api/v1/realtime", realtime),
    ]
)
