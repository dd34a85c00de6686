"""Helpers of the web chat tests: widgets, visitor sessions, visitor requests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kefu.channels.web_chat import service
from kefu.channels.web_chat.models import Widget
from kefu.platform.audit import Actor
from kefu.platform.kernel import Kernel


async def make_widget(kernel: Kernel, **values: Any) -> Widget:
    values.setdefault("name", "Shop")
    values.setdefault("title", "Chat with us")
    async with kernel.db.transaction() as session:
        return await service.create_widget(session, Actor.system("test"), service.WidgetValues(**values))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Visitor {token}"}


async def session_of(client: httpx.AsyncClient, widget: Widget, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/widget/{widget.key}/session", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def start(
    client: httpx.AsyncClient, token: str, body: str | None = "你好", **extra: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {"prechat": extra.pop("prechat", {})}
    if body is not None:
        payload["message"] = {"client_id": extra.pop("client_id", new_id()), "body": body}
    response = await client.post("/api/v1/widget/conversations", json=payload, headers=auth(token))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def new_id() -> str:
    return uuid.uuid4().hex
