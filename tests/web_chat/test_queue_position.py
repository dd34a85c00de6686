"""The waiting visitor's place in line: positions (VIPs ahead by their rank), the estimated wait
with and without recent history, nobody present, the endpoint and the live ``queue.position``
signals, 留言 instead of waiting, callback requests, and the widget's after-hours modes."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection

from kefu.accounts import Role
from kefu.channels.web_chat.service import CALLBACKS_PER_WINDOW, clean_callback_phone
from kefu.conversations import Channel, Contact, Conversation, Message, open_conversation, resolve_contact
from kefu.platform.db import utcnow
from kefu.platform.errors import InvalidInput
from kefu.platform.kernel import Kernel
from kefu.routing import PresenceState, positions, queue_position
from kefu.routing.position import HANDLE_SECONDS, HISTORY_WINDOW, LineStats
from tests.factories import Factory
from tests.platform.test_realtime import _recv, live
from tests.routing.support import give, presence
from tests.routing.test_acd import closed_calendar, queue
from tests.web_chat.support import auth, make_widget, session_of, start
from tests.web_chat.test_socket import _visitor_socket

__all__ = ["live"]

_people = itertools.count(1)


async def waiting_chat(kernel: Kernel, queue_id: int | None, *, tier: str | None = None) -> int:
    """A web chat that starts waiting in ``queue_id``, from a contact of ``tier``."""
    async with kernel.db.transaction() as session:
        n = next(_people)
        contact = await resolve_contact(session, kind="test", value=f"q{n}", name=f"Customer {n}")
        contact.tier = tier
        await session.flush()
        conversation = await open_conversation(
            session, channel=Channel.web_chat, contact_id=contact.id, queue_id=queue_id
        )
        return conversation.id


async def line(kernel: Kernel, queue_id: int) -> list[int]:
    async with kernel.db.reader() as session:
        return [p.conversation_id for p in await positions(session, queue_id, Channel.web_chat.value)]


async def place(kernel: Kernel, conversation_id: int) -> Any:
    async with kernel.db.reader() as session:
        return await queue_position(session, conversation_id)


async def busy_team(factory: Factory, kernel: Kernel, agents: int = 1) -> tuple[int, list[int]]:
    """A queue whose agents are present but take nobody new (busy): conversations wait."""
    team = await factory.team()
    ids = []
    for _ in range(agents):
        agent = await factory.user(Role.agent, team_ids=[team])
        await presence(kernel, agent.id, PresenceState.busy)
        ids.append(agent.id)
    return team, ids


# -- positions -------------------------------------------------------------------------------------
async def test_positions_follow_the_rank_and_a_vip_who_came_later_goes_first(
    kernel: Kernel, factory: Factory
) -> None:
    team, _ = await busy_team(factory, kernel)
    first = await waiting_chat(kernel, team)
    second = await waiting_chat(kernel, team)
    vip = await waiting_chat(kernel, team, tier="vip")  # 15 minutes' head start (the built-in tier)
    other_queue = await waiting_chat(kernel, await factory.team())
    async with kernel.db.reader() as session:
        ranks = dict(
            (
                await session.execute(
                    select(Conversation.id, Conversation.rank_at).where(Conversation.id.in_([first, vip]))
                )
            ).all()
        )
    assert ranks[vip] < ranks[first]  # routing ranked them when they started waiting
    assert await line(kernel, team) == [vip, first, second]
    assert [(await place(kernel, c)).position for c in (vip, first, second)] == [1, 2, 3]
    assert (await place(kernel, other_queue)).position == 1  # a line of its own
    # Just after queueing, before routing decided, rank_at is NULL: ranked as routing will rank it.
    async with kernel.db.transaction() as session:
        await session.execute(update(Conversation).where(Conversation.id == vip).values(rank_at=None))
    assert await line(kernel, team) == [vip, first, second]
    assert (await place(kernel, vip)).position == 1
    # Taken by an agent: not waiting any more; the others move up.
    agent = await factory.user(Role.agent, team_ids=[team])
    await give(kernel, vip, agent.id)
    assert await place(kernel, vip) is None
    assert [(await place(kernel, c)).position for c in (first, second)] == [1, 2]


# -- the estimate ----------------------------------------------------------------------------------
async def test_without_history_the_wait_comes_from_capacity(kernel: Kernel, factory: Factory) -> None:
    team, _ = await busy_team(factory, kernel, agents=2)  # 2 present × 3 chats (web_chat's default)
    chats = [await waiting_chat(kernel, team) for _ in range(4)]
    found = [await place(kernel, c) for c in chats]
    assert [p.basis for p in found] == ["capacity"] * 4
    assert [p.wait_seconds for p in found] == [HANDLE_SECONDS * n // 6 for n in (1, 2, 3, 4)]
    assert [p.wait_minutes for p in found] == [1, 2, 3, 4]  # 50 s → 1 min: rounded up, never 0
    assert all(p.present and p.open for p in found)


async def test_with_recent_history_the_wait_follows_the_service_rate(
    kernel: Kernel, factory: Factory
) -> None:
    team, (agent,) = await busy_team(factory, kernel)
    for _ in range(6):  # six conversations of this line were taken in the last 30 minutes
        await give(kernel, await waiting_chat(kernel, team), agent)
    first, second = await waiting_chat(kernel, team), await waiting_chat(kernel, team)
    one, two = await place(kernel, first), await place(kernel, second)
    per_conversation = HISTORY_WINDOW.total_seconds() / 6  # 5 minutes
    assert (one.basis, one.wait_seconds, one.wait_minutes) == ("history", per_conversation, 5)
    assert (two.wait_seconds, two.wait_minutes) == (2 * per_conversation, 10)
    # Later than the window, that history no longer counts.
    async with kernel.db.reader() as session:
        later = await queue_position(session, first, now=utcnow() + HISTORY_WINDOW + timedelta(minutes=1))
    assert later is not None
    assert later.basis == "capacity"


def test_the_estimate_is_never_negative_nor_made_up() -> None:
    assert LineStats(present=0, slots=0, served=10, open=True).estimate(3) is None
    assert LineStats(present=2, slots=6, served=0, open=False).estimate(3) is None
    assert LineStats(present=1, slots=0, served=0, open=True).estimate(1) is None
    assert LineStats(present=1, slots=3, served=0, open=True).estimate(0) == 0
    assert LineStats(present=1, slots=3, served=30, open=True).estimate(1) == 60


async def test_nobody_present_gives_no_time_and_a_closed_queue_says_so(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    away = await factory.user(Role.agent, team_ids=[team])
    await presence(kernel, away.id, PresenceState.away)  # away is not present
    waiting = await waiting_chat(kernel, team)
    found = await place(kernel, waiting)
    assert (found.position, found.present, found.wait_seconds, found.wait_minutes) == (1, False, None, None)
    closed = await factory.team()
    await queue(kernel, closed, calendar_id=await closed_calendar(kernel), after_hours="offline_message")
    night = await place(kernel, await waiting_chat(kernel, closed))
    assert (night.open, night.wait_seconds) == (False, None)
    assert night.public()["opens_at"] is not None


# -- the endpoint ----------------------------------------------------------------------------------
async def test_the_queue_endpoint_answers_only_for_ones_own_conversation(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    team, (agent,) = await busy_team(factory, kernel)
    widget = await make_widget(kernel, queue_id=team)
    ahead = await waiting_chat(kernel, team)
    me = await session_of(client, widget)
    mine = (await start(client, me["token"]))["conversation"]["id"]
    got = await client.get(f"/api/v1/widget/conversations/{mine}/queue", headers=auth(me["token"]))
    assert got.status_code == 200, got.text
    assert got.json() == {
        "conversation_id": mine,
        "waiting": True,
        "position": 2,
        "wait_seconds": 2 * HANDLE_SECONDS // 3,
        "wait_minutes": 4,
        "present": True,
        "open": True,
        "opens_at": None,
    }
    # Another visitor cannot see it (404, like every route of someone else's conversation).
    other = await session_of(client, widget)
    theirs = await client.get(f"/api/v1/widget/conversations/{mine}/queue", headers=auth(other["token"]))
    assert theirs.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"/api/v1/widget/conversations/{mine}/queue")).status_code == 401
    # Taken: no more waiting.
    await give(kernel, mine, agent)
    taken = await client.get(f"/api/v1/widget/conversations/{mine}/queue", headers=auth(me["token"]))
    assert taken.json()["waiting"] is False
    assert taken.json()["position"] is None
    assert ahead


# -- live frames -----------------------------------------------------------------------------------
async def _next_position(ws: ClientConnection, conversation_id: int, within: float = 8.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        frame = await _recv(ws, max(0.1, deadline - time.monotonic()))
        if (
            frame.get("type") == "signal"
            and frame.get("event") == "queue.position"
            and frame["data"]["conversation_id"] == conversation_id
        ):
            data: dict[str, Any] = frame["data"]
            return data


async def test_waiting_visitors_see_their_place_move_live(
    live: str, kernel: Kernel, factory: Factory
) -> None:
    team, (agent,) = await busy_team(factory, kernel)
    widget = await make_widget(kernel, queue_id=team)
    async with httpx.AsyncClient(base_url=f"http://{live}") as client:
        first = await session_of(client, widget)
        first_id = (await start(client, first["token"], "我先来的"))["conversation"]["id"]
        second = await session_of(client, widget)
        second_id = (await start(client, second["token"], "我第二"))["conversation"]["id"]
        async with (
            await _visitor_socket(live, first["token"]) as ws1,
            await _visitor_socket(live, second["token"]) as ws2,
        ):
            assert (await _recv(ws1))["type"] == "hello"
            assert (await _recv(ws2))["type"] == "hello"
            await give(kernel, first_id, agent)  # the one ahead is taken
            moved = await _next_position(ws2, second_id)
            assert (moved["waiting"], moved["position"], moved["present"]) == (True, 1, True)
            assert moved["wait_minutes"] == 2
            gone = await _next_position(ws1, first_id)
            assert gone["waiting"] is False
            # The other visitor never hears about a conversation that is not theirs.
            await ws1.send(json.dumps({"type": "ping"}))
            while (frame := await _recv(ws1))["type"] != "pong":
                assert frame.get("data", {}).get("conversation_id") != second_id


async def test_a_busy_line_is_recomputed_at_most_every_interval(kernel: Kernel, factory: Factory) -> None:
    from kefu.channels.web_chat.queue import queue_updates

    updates = queue_updates(kernel)
    updates.interval = 1.0
    team, _ = await busy_team(factory, kernel)  # its agent's presence changed: the line is computed
    for _ in range(100):
        if updates.idle():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(updates.interval)  # a quiet line…
    before = updates.recomputed
    for _ in range(5):  # …then a burst of changes
        await waiting_chat(kernel, team)
    for _ in range(100):  # the first is computed at once, the next four together a second later
        if updates.recomputed - before >= 2 and updates.idle():
            break
        await asyncio.sleep(0.05)
    assert updates.recomputed - before == 2
    assert updates.idle()  # nothing left: no task lingers


# -- 留言 instead of waiting -------------------------------------------------------------------------
async def test_a_waiting_visitor_leaves_a_message_instead(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    team, (agent,) = await busy_team(factory, kernel)
    widget = await make_widget(kernel, queue_id=team)
    me = await session_of(client, widget)
    mine = (await start(client, me["token"], "等太久了"))["conversation"]["id"]
    url = f"/api/v1/widget/conversations/{mine}/offline"
    missing = await client.post(url, json={}, headers=auth(me["token"]))
    assert missing.status_code == 422, missing.text  # no address known: ask for one
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in missing.json()["errors"]] == ["email"]
    bad = await client.post(url, json={"email": "not-an-address"}, headers=auth(me["token"]))
    assert bad.status_code == 422
    left = await client.post(
        url, json={"email": "lin@example.com", "body": "请邮件告诉我价格"}, headers=auth(me["token"])
    )
    assert left.status_code == 200, left.text
    assert left.json()["email"] == "lin@example.com"
    assert left.json()["conversation"]["offline"] is True
    assert left.json()["conversation"]["reply_email"] == "lin@example.com"
    async with kernel.db.reader() as session:
        conversation = await session.get(Conversation, mine)
        assert conversation is not None
        assert conversation.meta["offline"] is True
        contact = await session.get(Contact, conversation.contact_id)
        assert contact is not None
        assert contact.email == "lin@example.com"
        lines = (
            await session.execute(
                select(Message.author_kind, Message.body)
                .where(Message.conversation_id == mine)
                .order_by(Message.seq)
            )
        ).all()
    assert lines[-2:] == [
        ("customer", "请邮件告诉我价格"),
        ("system", "Left a message; reply by email to lin@example.com"),
    ]
    assert (await place(kernel, mine)).position == 1  # it keeps its place: an agent takes it
    await give(kernel, mine, agent)
    again = await client.post(url, json={"email": "lin@example.com"}, headers=auth(me["token"]))
    assert again.status_code == 409  # an agent has it now


async def test_a_known_address_needs_no_asking(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    team, _ = await busy_team(factory, kernel)
    widget = await make_widget(kernel, queue_id=team)
    me = await session_of(client, widget, email="known@example.com")
    mine = (await start(client, me["token"]))["conversation"]["id"]
    left = await client.post(
        f"/api/v1/widget/conversations/{mine}/offline", json={}, headers=auth(me["token"])
    )
    assert left.status_code == 200, left.text
    assert left.json()["email"] == "known@example.com"


# -- callbacks -------------------------------------------------------------------------------------
def test_phone_numbers_are_checked_and_lightly_normalised() -> None:
    assert clean_callback_phone("  +86 138-0013-8000 ") == "+86 138-0013-8000"
    assert clean_callback_phone("010   6552 9988") == "010 6552 9988"
    for bad in ("", "abc", "1234", "+86 (10) 1234 5678", "12+345678", "1" * 21, "138 0013 8000 ext 5"):
        with pytest.raises(InvalidInput) as refused:
            clean_callback_phone(bad)
        assert [e["field"] for e in refused.value.errors] == ["phone"], bad


async def test_a_waiting_visitor_asks_for_a_callback(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    team, _ = await busy_team(factory, kernel)
    widget = await make_widget(kernel, queue_id=team)
    me = await session_of(client, widget)
    mine = (await start(client, me["token"]))["conversation"]["id"]
    url = f"/api/v1/widget/conversations/{mine}/callback"
    for body, field in (({"phone": "call me"}, "phone"), ({"phone": "12 34"}, "phone"), ({}, "phone")):
        refused = await client.post(url, json=body, headers=auth(me["token"]))
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"].split(".")[-1] for e in refused.json()["errors"]] == [field]
    asked = await client.post(
        url, json={"phone": " +86 138-0013-8000 ", "preferred_time": "明天上午"}, headers=auth(me["token"])
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["conversation"]["callback"] == {
        "phone": "+86 138-0013-8000",
        "preferred_time": "明天上午",
    }
    async with kernel.db.reader() as session:
        conversation = await session.get(Conversation, mine)
        assert conversation is not None
        assert conversation.meta["callback"]["phone"] == "+86 138-0013-8000"
        assert (conversation.status, conversation.assignee_id) == ("open", None)  # still in its queue
        contact = await session.get(Contact, conversation.contact_id)
        assert contact is not None
        assert contact.phone == "+86 138-0013-8000"
        last = await session.scalar(
            select(Message.body).where(Message.conversation_id == mine).order_by(Message.seq.desc()).limit(1)
        )
    assert last == "Callback requested: +86 138-0013-8000 (明天上午)"
    for _ in range(CALLBACKS_PER_WINDOW - 1):
        assert (
            await client.post(url, json={"phone": "13800138000"}, headers=auth(me["token"]))
        ).status_code == 200
    flood = await client.post(url, json={"phone": "13800138000"}, headers=auth(me["token"]))
    assert flood.status_code == 429, flood.text
    assert 0 < int(flood.headers["retry-after"]) <= 3600
    other = await session_of(client, widget)
    assert (
        await client.post(url, json={"phone": "13800138000"}, headers=auth(other["token"]))
    ).status_code == 404


# -- after hours -----------------------------------------------------------------------------------
async def test_the_session_tells_the_widget_its_after_hours_mode(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    calendar = await closed_calendar(kernel)
    open_team = await factory.team()
    open_agent = await factory.user(Role.agent, team_ids=[open_team])
    await presence(kernel, open_agent.id, PresenceState.online)
    night = await factory.team()
    owl = await factory.user(Role.agent, team_ids=[night])
    expected: dict[str, tuple[bool, str]] = {}
    widgets = {}
    for mode in ("offline_message", "callback", "bot_only", "overflow"):
        team = await factory.team()
        member = await factory.user(Role.agent, team_ids=[team])
        await presence(kernel, member.id, PresenceState.online)  # online, but the queue is closed
        extra = {"after_hours_team_id": night} if mode == "overflow" else {}
        await queue(kernel, team, calendar_id=calendar, after_hours=mode, **extra)
        widgets[mode] = await make_widget(kernel, queue_id=team)
    expected = {
        "offline_message": (False, "offline_message"),
        "callback": (False, "callback"),
        "bot_only": (False, "bot_only"),
        "overflow": (False, "offline_message"),  # nobody of the night team is there yet
    }
    for mode, widget in widgets.items():
        got = await session_of(client, widget)
        assert (got["online"], got["mode"]) == expected[mode], mode
        assert got["opens_at"] is not None, mode
    await presence(kernel, owl.id, PresenceState.online)
    overflow = await session_of(client, widgets["overflow"])
    assert (overflow["online"], overflow["mode"], overflow["opens_at"]) == (True, "chat", None)
    normal = await session_of(client, await make_widget(kernel, queue_id=open_team))
    assert (normal["online"], normal["mode"]) == (True, "chat")
    await presence(kernel, open_agent.id, PresenceState.offline)
    nobody = await session_of(client, await make_widget(kernel, queue_id=open_team))
    assert (nobody["online"], nobody["mode"]) == (False, "offline_message")


async def test_the_after_hours_callback_form_leaves_a_request_in_the_queue(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    await queue(kernel, team, calendar_id=await closed_calendar(kernel), after_hours="callback")
    widget = await make_widget(kernel, queue_id=team, away_message="我们下班了")
    me = await session_of(client, widget)
    assert me["mode"] == "callback"
    bad = await client.post(
        "/api/v1/widget/callback", json={"name": "王五", "phone": "x"}, headers=auth(me["token"])
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["phone"]
    made = await client.post(
        "/api/v1/widget/callback",
        json={"name": "王五", "phone": "138 0013 8000", "preferred_time": "9点以后", "body": "空调不制冷"},
        headers=auth(me["token"]),
    )
    assert made.status_code == 201, made.text
    conversation = made.json()["conversation"]
    assert conversation["callback"] == {"phone": "138 0013 8000", "preferred_time": "9点以后"}
    assert conversation["offline"] is True
    bodies = [(m["author_kind"], m["body"]) for m in made.json()["messages"]]
    # No away text: a visitor who asked to be called back knows nobody is there.
    assert bodies == [("customer", "空调不制冷"), ("system", "Callback requested: 138 0013 8000 (9点以后)")]
    found = await place(kernel, conversation["id"])
    assert (found.position, found.open, found.wait_seconds) == (1, False, None)
    resumed = await session_of(client, widget, visitor_token=me["token"])
    assert resumed["conversation"]["id"] == conversation["id"]
