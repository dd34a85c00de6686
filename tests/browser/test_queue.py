"""Waiting in line, in real browsers: a visitor on an ordinary website sees how many are ahead and
about how long it takes, and the banner moves live when the one ahead is taken; a VIP who comes
later goes ahead (and is taken first when the agent has room); on a phone the banner fits. After
hours, a queue set to "callback" greets visitors with the callback form, one set to "take a
message" with the 留言 form.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import FrameLocator, Page, expect
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Team, User
from kefu.conversations import (
    Channel,
    Contact,
    Conversation,
    assign_conversation,
    open_conversation,
    resolve_contact,
)
from kefu.platform.audit import Actor
from kefu.platform.db import utcnow
from kefu.routing.models import AgentCapacity, CustomerTier, QueueSettings
from kefu.settings import Settings
from tests.browser.chat_support import (
    api_headers,
    host_site,
    in_database,
    phone_snippet,
    prepare_workspace,
    snippet,
)
from tests.browser.conftest import PHONE, Kefu, OpenTab
from tests.browser.test_live_chat import (
    FRAME,
    LIVE,
    Visitor,
    agent_online,
    login_of,
    open_widget,
    start_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

AGENT_EMAIL = "zhangsan@kefu.example"  # 张三, of 售前咨询 (the demo widget's queue)
PRESALES = "售前咨询"
TEST_ACTOR = Actor.system("test")


async def _presales(session: AsyncSession) -> int:
    team_id = await session.scalar(select(Team.id).where(Team.name == PRESALES))
    assert team_id is not None
    return int(team_id)


async def one_free_place(settings: Settings) -> int:
    """张三 takes exactly one more web chat than he has now, and gets one (a "filler") — so he is
    full and everyone else waits; VIPs wait in the same line (the demo sends them to the VIP
    queue); nobody else waits in it. Returns the filler's id: resolving it frees his room."""

    async def prepare(session: AsyncSession) -> int:
        presales = await _presales(session)
        await session.execute(update(CustomerTier).values(dedicated_team_id=None))
        await session.execute(
            update(Conversation)
            .where(
                Conversation.queue_id == presales,
                Conversation.status == "open",
                Conversation.assignee_id.is_(None),
            )
            .values(status="closed", closed_at=utcnow())
        )
        agent = await session.scalar(select(User).where(User.email == AGENT_EMAIL))
        assert agent is not None
        contact = await resolve_contact(session, kind="test", value="filler", name="先来的客户")
        filler = await open_conversation(
            session, channel=Channel.web_chat, contact_id=contact.id, queue_id=presales
        )
        await assign_conversation(session, filler.id, agent.id, actor=TEST_ACTOR)
        load = await session.scalar(
            select(func.count()).where(
                Conversation.assignee_id == agent.id,
                Conversation.channel == Channel.web_chat.value,
                Conversation.status.in_(["open", "pending", "snoozed"]),
            )
        )
        await session.execute(delete(AgentCapacity).where(AgentCapacity.user_id == agent.id))
        session.add(
            AgentCapacity(user_id=agent.id, channel=Channel.web_chat.value, max_concurrent=int(load or 1))
        )
        return filler.id

    return await in_database(settings, prepare)


async def set_tier(settings: Settings, contact_id: int, tier: str) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(update(Contact).where(Contact.id == contact_id).values(tier=tier))

    await in_database(settings, work)


async def assignee_of(settings: Settings, conversation_id: int) -> int | None:
    async def work(session: AsyncSession) -> int | None:
        return await session.scalar(
            select(Conversation.assignee_id).where(Conversation.id == conversation_id)
        )

    return await in_database(settings, work)


async def resolve(kefu: Kefu, headers: dict[str, str], conversation_id: int) -> None:
    async with httpx.AsyncClient(base_url=kefu.url, headers=headers) as http:
        done = await http.post(f"/api/v1/conversations/{conversation_id}/status", json={"status": "resolved"})
    assert done.status_code == 200, done.text


async def visitor_by_api(kefu: Kefu, key: str, name: str) -> tuple[str, int]:
    """A visitor who writes through the API (another person, no browser): token, conversation id."""
    async with httpx.AsyncClient(base_url=kefu.url) as http:
        session = (await http.post(f"/api/v1/widget/{key}/session", json={})).json()
        started = await http.post(
            "/api/v1/widget/conversations",
            json={
                "prechat": {"name": name},
                "message": {"client_id": f"c-{time.monotonic_ns()}", "body": "在吗？"},
            },
            headers={"Authorization": f"Visitor {session['token']}"},
        )
    assert started.status_code == 201, started.text
    return session["token"], int(started.json()["conversation"]["id"])


async def open_widget_on_a_phone(page: Page, site: str) -> Visitor:
    """As :func:`open_widget`, on a phone: the open chat covers the page, its launcher too."""
    async with page.expect_response(
        lambda r: "/api/v1/widget/" in r.url and r.url.endswith("/session") and r.ok
    ) as session:
        response = await page.goto(site)
        assert response is not None
        assert response.ok
    token = (await (await session.value).json())["token"]
    await page.get_by_role("button", name="在线客服").click()
    await expect(page.locator(FRAME)).to_be_visible()
    box = await page.locator(FRAME).bounding_box()
    assert box is not None
    assert (box["x"], box["width"]) == (0, PHONE["width"]), box  # the whole screen
    return Visitor(page, page.frame_locator(FRAME), token)


async def banner(chat: FrameLocator, position: int, text: str | re.Pattern[str]) -> None:
    queue = chat.locator("#kf-queue")
    await expect(queue).to_be_visible(timeout=LIVE)
    await expect(queue).to_have_attribute("data-position", str(position), timeout=LIVE)
    await expect(chat.locator("#kf-queue-text")).to_have_text(text)


# -- waiting in line -------------------------------------------------------------------------------
async def test_waiting_visitors_see_their_place_and_a_vip_goes_first(
    kefu: Kefu, open_tab: OpenTab, settings: Settings
) -> None:
    workspace = await prepare_workspace(settings)
    filler = await one_free_place(settings)
    agent_headers = await api_headers(settings, AGENT_EMAIL)
    agent = await open_tab(kefu, "agent")
    await agent.login(login_of(kefu, AGENT_EMAIL))
    await agent.goto("/inbox")
    await agent_online(agent)  # present, but full: everyone waits

    _, ahead = await visitor_by_api(kefu, workspace.widget_key, "排在前面的客户")
    with host_site(snippet(kefu.url, workspace.widget_key)) as site:
        visitor = await open_tab(kefu, "regular")
        regular = await open_widget(visitor.page, site)
        chat = regular.chat
        await start_chat(chat, "林晓雨")
        await banner(chat, 2, re.compile(r"^您前面还有 1 位 · 预计等待约 \d+ 分钟$"))
        await expect(chat.get_by_role("button", name="留言", exact=True)).to_be_visible()
        await expect(chat.get_by_role("button", name="回电", exact=True)).to_be_visible()
        await expect(chat.locator("#kf-queue-text")).to_have_attribute("aria-live", "polite")
        await visitor.shot("01-regular-waiting", full_page=False)

        # The agent finishes the filler: the one ahead is taken, and the banner moves at once.
        await resolve(kefu, agent_headers, filler)
        await banner(chat, 1, re.compile(r"^您是下一位 · 预计等待约 \d+ 分钟$"))
        assert await assignee_of(settings, ahead) == workspace.user_ids[AGENT_EMAIL]

        # A VIP comes later, on a phone: they go first; the regular visitor is second again.
        phone = await open_tab(kefu, "vip", viewport=PHONE, is_mobile=True, has_touch=True)
        with host_site(phone_snippet(kefu.url, workspace.widget_key)) as phone_site:
            vip = await open_widget_on_a_phone(phone.page, phone_site)
        await set_tier(settings, await contact_of(kefu, workspace.widget_key, vip.token), "vip")
        await start_chat(vip.chat, "陈先生")
        await banner(vip.chat, 1, re.compile(r"^您是下一位 · 预计等待约 \d+ 分钟$"))
        await banner(chat, 2, re.compile(r"^您前面还有 1 位"))
        await fits_the_phone(phone.page, vip.chat)
        await phone.shot("02-vip-first-on-a-phone", full_page=False)
        await visitor.shot("03-regular-behind-the-vip", full_page=False)

        # The agent has room again: the VIP is taken first, their banner goes; the regular is next.
        await resolve(kefu, agent_headers, ahead)
        await expect(vip.chat.locator("#kf-queue")).to_be_hidden(timeout=LIVE)
        await banner(chat, 1, re.compile(r"^您是下一位"))
        vip_conversation = (await visitor_get(kefu, vip.token, "/conversations"))["items"][0]["id"]
        assert await assignee_of(settings, vip_conversation) == workspace.user_ids[AGENT_EMAIL]

        # 回电 from the queue: a bad number is explained in the form; a good one is confirmed.
        await chat.get_by_role("button", name="回电", exact=True).click()
        await expect(chat.locator("#kf-c-phone")).to_be_focused()
        await chat.locator("#kf-c-phone").fill("12ab")
        await chat.locator("#kf-callback-send").click()
        await expect(chat.locator('#kf-callback [data-error-for="phone"]')).to_be_visible()
        await chat.locator("#kf-c-phone").fill("138 0013 8000")
        await chat.locator("#kf-c-time").fill("下午三点以后")
        await chat.locator("#kf-callback-send").click()
        await expect(chat.locator("#kf-queue-done")).to_have_text("我们会致电 138 0013 8000 回电给您。")
        await expect(chat.locator(".kf-msg.kf-system").last).to_have_text(
            "已申请回电：138 0013 8000 (下午三点以后)", timeout=LIVE
        )
        await expect(chat.locator("#kf-queue")).to_be_visible()  # still in line
        await visitor.shot("04-regular-callback-requested", full_page=False)

        # 留言 instead of waiting: the email address is asked for, and the banner goes.
        await chat.get_by_role("button", name="留言", exact=True).click()
        await chat.locator("#kf-l-email").fill("lin.xiaoyu@example.com")
        await chat.locator("#kf-l-body").fill("不等了，请邮件回复我报价。")
        await chat.locator("#kf-leave-send").click()
        await expect(chat.locator("#kf-queue")).to_be_hidden()
        await expect(chat.locator("#kf-queue-done")).to_have_text(
            "我们会通过邮件回复您：lin.xiaoyu@example.com"
        )
        await expect(chat.locator(".kf-msg.kf-system").last).to_have_text(
            "已留言：我们会通过邮件回复 lin.xiaoyu@example.com", timeout=LIVE
        )
        await visitor.shot("05-regular-left-a-message", full_page=False)

        mine = (await visitor_get(kefu, regular.token, "/conversations"))["items"][0]["id"]
        await visitor.assert_clean(
            allow_status_of={f"/api/v1/widget/conversations/{mine}/callback"}
        )  # the 422
        await phone.assert_clean()
        await agent.assert_clean()


async def contact_of(kefu: Kefu, key: str, token: str) -> int:
    """The contact a widget visitor's token names (the session answer tells it)."""
    async with httpx.AsyncClient(base_url=kefu.url) as http:
        found = await http.post(f"/api/v1/widget/{key}/session", json={"visitor_token": token})
    found.raise_for_status()
    return int(found.json()["contact_id"])


async def visitor_get(kefu: Kefu, token: str, path: str) -> Any:
    async with httpx.AsyncClient(base_url=kefu.url) as http:
        found = await http.get(f"/api/v1/widget{path}", headers={"Authorization": f"Visitor {token}"})
    found.raise_for_status()
    return found.json()


async def fits_the_phone(page: Any, chat: FrameLocator) -> None:
    """The banner and its two buttons lie within the phone's width (no sideways scrolling)."""
    for selector in ("#kf-queue", "#kf-leave-open", "#kf-callback-open"):
        box = await chat.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= PHONE["width"] + 0.5, (selector, box)
    overflow = await chat.locator("body").evaluate(
        "b => b.ownerDocument.scrollingElement.scrollWidth - b.ownerDocument.documentElement.clientWidth"
    )
    assert overflow <= 0, overflow


# -- after hours -----------------------------------------------------------------------------------
async def close_presales(settings: Settings, after_hours: str) -> None:
    """售前咨询's business hours closed now (open only in the hour that began 12 hours ago)."""

    async def work(session: AsyncSession) -> None:
        from kefu.calendars.service import create_calendar

        presales = await _presales(session)
        start = (utcnow() - timedelta(hours=12)).replace(minute=0)
        end = start + timedelta(hours=1)
        hours = [[start.strftime("%H:%M"), end.strftime("%H:%M") if end.hour else "24:00"]]
        calendar = await create_calendar(
            session,
            TEST_ACTOR,
            name=f"夜间关闭 {after_hours}",
            timezone="UTC",
            weekly_hours={str(day): hours for day in range(1, 8)},
        )
        await session.execute(
            update(QueueSettings)
            .where(QueueSettings.team_id == presales)
            .values(calendar_id=calendar.id, after_hours=after_hours)
        )

    await in_database(settings, work)


async def test_after_hours_the_queue_decides_what_the_widget_offers(
    kefu: Kefu, open_tab: OpenTab, settings: Settings
) -> None:
    workspace = await prepare_workspace(settings, online=frozenset({AGENT_EMAIL}))  # online, but closed
    await close_presales(settings, "callback")
    with host_site(snippet(kefu.url, workspace.widget_key)) as site:
        visitor = await open_tab(kefu, "callback")
        chat = (await open_widget(visitor.page, site)).chat
        await expect(chat.locator("#kf-callback-start")).to_be_visible(timeout=LIVE)
        await expect(chat.locator("#kf-chat")).to_be_hidden()
        await expect(chat.locator("#kf-offline")).to_be_hidden()
        await chat.locator("#kf-cs-name").fill("郑子涵")
        await chat.locator("#kf-cs-phone").fill("+86 139-1234-5678")
        await chat.locator("#kf-cs-time").fill("明天上午")
        await chat.locator("#kf-cs-body").fill("X200 安装预约")
        await visitor.shot("06-after-hours-callback-form", full_page=False)
        await chat.locator("#kf-callback-start-form button[type=submit]").click()
        await expect(chat.locator("#kf-thanks")).to_have_text("我们会致电 +86 139-1234-5678 回电给您。")
        await visitor.assert_clean()

        phone = await open_tab(kefu, "callback-phone", viewport=PHONE, is_mobile=True, has_touch=True)
        with host_site(phone_snippet(kefu.url, workspace.widget_key)) as phone_site:
            phone_chat = (await open_widget_on_a_phone(phone.page, phone_site)).chat
        await expect(phone_chat.locator("#kf-callback-start")).to_be_visible(timeout=LIVE)
        await phone.shot("07-after-hours-callback-form-phone", full_page=False)
        await phone.assert_clean()

        await close_presales(settings, "offline_message")
        other = await open_tab(kefu, "offline")
        other_chat = (await open_widget(other.page, site)).chat
        await expect(other_chat.locator("#kf-offline")).to_be_visible(timeout=LIVE)
        await expect(other_chat.locator("#kf-callback-start")).to_be_hidden()
        await other.shot("08-after-hours-offline-form", full_page=False)
        await other.assert_clean()

    # The agent's side: the callback request waits in the queue with its number.
    headers = await api_headers(settings, AGENT_EMAIL)
    async with httpx.AsyncClient(base_url=kefu.url, headers=headers) as http:
        waiting = (await http.get("/api/v1/conversations", params={"q": "郑子涵"})).json()
    assert [item["assignee_id"] for item in waiting["items"]] == [None], waiting
