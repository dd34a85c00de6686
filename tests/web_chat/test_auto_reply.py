"""The away text: sent once per 10 minutes when a visitor writes and nobody can answer."""

from __future__ import annotations

from datetime import timedelta

import httpx

from kefu.accounts.access import Role
from kefu.calendars import service as calendars_service
from kefu.channels.web_chat import service
from kefu.conversations import messages_after
from kefu.platform.audit import Actor
from kefu.platform.db import utcnow
from kefu.platform.kernel import Kernel
from kefu.routing import PresenceState, set_presence
from tests.factories import Factory
from tests.web_chat.support import auth, make_widget, session_of, start

AWAY = "客服暂时不在，我们会尽快回复您。"


async def _kinds(kernel: Kernel, conversation_id: int) -> list[tuple[str, str]]:
    async with kernel.db.reader() as session:
        views = await messages_after(session, conversation_id, include_notes=True)
    return [(v.author_kind, v.kind) for v in views]


async def test_nobody_available_gets_the_away_text_once(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel, away_message=AWAY)
    token = (await session_of(client, widget))["token"]
    conversation_id = (await start(client, token, "有人吗"))["conversation"]["id"]
    assert await _kinds(kernel, conversation_id) == [("customer", ""), ("bot", "auto_reply")]
    url = f"/api/v1/widget/conversations/{conversation_id}/messages"
    await client.post(url, json={"client_id": "again", "body": "有人吗？？"}, headers=auth(token))
    assert await _kinds(kernel, conversation_id) == [
        ("customer", ""),
        ("bot", "auto_reply"),
        ("customer", ""),
    ]
    items = (await client.get(url, headers=auth(token))).json()["items"]
    assert items[1]["body"] == AWAY


async def test_no_away_text_when_an_agent_is_available(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    async with kernel.db.transaction() as session:
        await set_presence(session, agent.id, PresenceState.online)
    widget = await make_widget(kernel, away_message=AWAY)
    session_data = await session_of(client, widget)
    assert session_data["online"] is True
    conversation_id = (await start(client, session_data["token"], "你好"))["conversation"]["id"]
    assert ("bot", "auto_reply") not in await _kinds(kernel, conversation_id)


async def test_outside_business_hours_the_widget_is_offline(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    async with kernel.db.transaction() as session:
        await set_presence(session, agent.id, PresenceState.online)
        closed = await calendars_service.create_calendar(
            session, Actor.system("test"), name="Never open", timezone="Asia/Shanghai", weekly_hours={}
        )
    widget = await make_widget(kernel, away_message=AWAY, calendar_id=closed.id)
    assert (await session_of(client, widget))["online"] is False


def test_the_away_text_repeats_only_after_ten_minutes() -> None:
    from kefu.conversations import MessageView

    now = utcnow()

    def view(kind: str, minutes_ago: int) -> MessageView:
        at = now - timedelta(minutes=minutes_ago)
        return MessageView(1, 1, "bot", "", None, "", False, None, kind, {}, at, None, None, ())

    assert service.needs_auto_reply([], now)
    assert not service.needs_auto_reply([view("auto_reply", 9), view("", 1)], now)
    assert service.needs_auto_reply([view("auto_reply", 11), view("", 1)], now)
    assert service.needs_auto_reply([view("welcome", 1)], now)


async def test_an_offline_message_gets_no_away_text(client: httpx.AsyncClient, kernel: Kernel) -> None:
    """The visitor already chose to leave a message (留言): telling them nobody is there is noise."""
    widget = await make_widget(kernel, away_message=AWAY)
    token = (await session_of(client, widget))["token"]
    left = await client.post(
        "/api/v1/widget/offline",
        json={"name": "王五", "phone": "+86 138 0000 0000", "body": "请回电"},
        headers=auth(token),
    )
    assert left.status_code == 201, left.text
    assert await _kinds(kernel, left.json()["conversation"]["id"]) == [("customer", "")]
