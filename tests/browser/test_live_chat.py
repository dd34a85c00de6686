"""Live chat in real browsers: a visitor on an ordinary website (another origin, the one-line
snippet) chats with an agent in the workspace — typing indicators both ways, read marks, an
image, a quick reply with a variable, a transfer whose note the visitor never sees; the
offline form (留言) when nobody is online; and a server killed with SIGKILL and restarted
while the visitor keeps writing: every acknowledged message is there exactly once, in order,
in the widget (two tabs), in the agent's view and in the API.

The visitor and the agent each have their own browser context (their own cookies and storage).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import FrameLocator, Locator, Page, expect

from kefu.settings import Settings
from tests.browser.chat_support import Frames, host_site, png_file, prepare_workspace, snippet
from tests.browser.conftest import Kefu, Login, OpenTab, Tab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

AGENT_EMAIL = "zhangsan@kefu.example"  # 张三, of the 售前咨询 team the demo widget routes to
CUSTOMER = "林晓雨"  # no demo customer has this name
FRAME = 'iframe[src*="/widget/"]'
LIVE = 20_000  # ms: realtime steps; generous for two shared CPU cores and PostgreSQL


def login_of(kefu: Kefu, email: str) -> Login:
    return next(login for login in kefu.logins if login.email == email)


@dataclass
class Visitor:
    page: Page
    chat: FrameLocator
    token: str  # from the widget's session answer: a cross-site frame may have no storage to read


async def open_widget(page: Page, site: str) -> Visitor:
    """Open the host website and the chat, as a visitor does: the launcher button in the corner."""
    async with page.expect_response(
        lambda r: "/api/v1/widget/" in r.url and r.url.endswith("/session") and r.ok
    ) as session:
        response = await page.goto(site)
        assert response is not None
        assert response.ok
    token = (await (await session.value).json())["token"]
    launcher = page.get_by_role("button", name="在线客服")
    await launcher.click()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    await expect(page.locator(FRAME)).to_be_visible()
    return Visitor(page, page.frame_locator(FRAME), token)


async def start_chat(chat: FrameLocator, name: str) -> None:
    """The demo widget asks for a name first (its pre-chat form)."""
    await expect(chat.locator("#kf-prechat")).to_be_visible(timeout=LIVE)
    await chat.locator("#kf-p-name").fill(name)
    await chat.locator("#kf-prechat-form button[type=submit]").click()
    await expect(chat.locator("#kf-input")).to_be_visible()


async def send_visitor(chat: FrameLocator, text: str) -> None:
    box = chat.locator("#kf-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


async def agent_online(agent: Tab) -> None:
    """Set oneself online with the workspace's presence control."""
    control = agent.page.locator("#ws-presence-state")
    await expect(agent.page.locator("#ws-presence")).to_be_visible()
    async with agent.page.expect_response(
        lambda r: r.url.endswith("/api/v1/presence/me") and r.request.method == "PUT"
    ) as answer:
        await control.select_option("online")
    assert (await (await answer.value).json())["state"] == "online"


async def loaded_width(image: Locator) -> int:
    """The picture's real width once loaded (0: broken): a file name alone is no preview."""
    await image.scroll_into_view_if_needed()  # the tags load lazily
    width: int = await image.evaluate("img => img.decode().then(() => img.naturalWidth, () => 0)")
    return width


async def visitor_api(kefu: Kefu, visitor: Visitor, path: str) -> Any:
    async with httpx.AsyncClient(base_url=kefu.url) as http:
        found = await http.get(f"/api/v1/widget{path}", headers={"Authorization": f"Visitor {visitor.token}"})
    found.raise_for_status()
    return found.json()


# -- a conversation, both sides ---------------------------------------------------------------------------
async def test_visitor_on_another_site_chats_with_an_agent(
    kefu: Kefu, open_tab: OpenTab, settings: Settings, tmp_path: Path
) -> None:
    workspace = await prepare_workspace(settings)
    agent = await open_tab(kefu, "agent")
    await agent.login(login_of(kefu, AGENT_EMAIL))
    await agent.goto("/inbox")
    await agent_online(agent)
    await expect(agent.page.locator("#ws-live")).to_have_attribute("data-state", "live")

    with host_site(snippet(kefu.url, workspace.widget_key)) as site:
        visitor = await open_tab(kefu, "visitor")
        customer = await open_widget(visitor.page, site)
        chat = customer.chat
        await start_chat(chat, CUSTOMER)
        await expect(chat.locator(".kf-msg.kf-bot")).to_contain_text("欢迎咨询")

        # The new conversation reaches the agent's inbox live (routed to 张三, the one online).
        row = agent.page.locator(".ws-row", has_text=CUSTOMER)
        await expect(row).to_be_visible(timeout=LIVE)
        conversation_id = int(await row.get_attribute("data-conversation-id") or 0)
        started = await visitor_api(kefu, customer, "/conversations")
        assert [c["id"] for c in started["items"]] == [conversation_id]
        frames = Frames().attach(agent.page)
        await row.locator("a").click()
        await expect(agent.page).to_have_url(agent.url(f"/inbox/conversations/{conversation_id}"))
        await frames.subscribed(f"conversation:{conversation_id}")
        history = agent.page.locator("#ws-history")
        badges = agent.page.locator(".ws-badges")
        await expect(badges).to_contain_text("坐席: 张三")

        # The visitor types: the agent sees it; the visitor sends: the agent gets it and reads it.
        box = chat.locator("#kf-input")
        await box.fill("你好，X200 空调")
        collision = agent.page.locator("#ws-collision")
        await expect(collision).to_have_text(f"{CUSTOMER} 正在输入…", timeout=LIVE)
        await box.fill("你好，X200 空调现在有优惠吗？")
        await box.press("Enter")
        await expect(history.locator(".msg-customer")).to_contain_text(["你好，X200 空调现在有优惠吗？"])
        await expect(collision).to_be_hidden()
        mine = chat.locator(".kf-msg.kf-mine")
        await expect(mine.last.locator(".kf-meta")).to_have_text("已读", timeout=LIVE)

        # The agent types: the widget shows it; the agent replies: the visitor gets it.
        composer = agent.page.locator("#composer-body")
        await composer.fill("您好，我帮您查一下")
        await expect(chat.locator("#kf-typing")).to_be_visible(timeout=LIVE)
        await composer.fill("您好，X200 本周九折，到手价 2699 元。")
        await composer.press("Enter")
        await expect(composer).to_have_value("")
        reply = chat.locator(".kf-msg.kf-agent").last
        await expect(reply).to_contain_text("您好，X200 本周九折，到手价 2699 元。", timeout=LIVE)
        await expect(reply.locator(".kf-who")).to_have_text("张三")
        await expect(chat.locator("#kf-typing")).to_be_hidden()

        # An image from the visitor: the agent sees the picture, not just a file name.
        picture = png_file(tmp_path / "发票截图.png")
        await chat.locator("#kf-file").set_input_files(picture)
        await expect(chat.locator("#kf-files")).to_contain_text("发票截图.png")
        await box.fill("这是发票截图")
        await box.press("Enter")
        thumb = history.locator("img.thumb")
        await expect(thumb).to_have_attribute("alt", "发票截图.png", timeout=LIVE)
        assert await loaded_width(thumb) == 48
        own = chat.locator(".kf-msg.kf-mine img")
        await expect(own).to_have_attribute("alt", "发票截图.png", timeout=LIVE)
        assert await loaded_width(own) == 48

        # A quick reply picked with "/": its {客户姓名} is filled in before it is sent.
        await composer.fill("/return")
        popup = agent.page.locator("#qr-popup")
        await expect(popup).to_be_visible()
        await expect(popup.locator("li").first).to_contain_text("七天无理由退货")
        await composer.press("Enter")
        await expect(composer).to_have_value(re.compile(f"^{CUSTOMER}您好，商品签收后 7 天内"))
        await composer.press("Enter")
        await expect(chat.locator(".kf-msg.kf-agent").last).to_contain_text(
            f"{CUSTOMER}您好，商品签收后 7 天内", timeout=LIVE
        )
        await expect(chat.locator("#kf-messages")).not_to_contain_text("{客户姓名}")

        await visitor.shot("01-widget-chat", full_page=False)
        await agent.shot("02-agent-conversation")

        # Transfer to 李四 with a note: agents see the note, the visitor only that it moved.
        note = "客户要退货，发票已上传，请跟进"
        await agent.page.locator("#ws-transfer-box summary").click()
        lisi = agent.page.locator("#ws-transfer-user option", has_text="李四")
        await agent.page.locator("#ws-transfer-user").select_option(await lisi.get_attribute("value"))
        await agent.page.locator("#ws-transfer-note").fill(note)
        await agent.page.locator("#ws-transfer-box button[type=submit]").click()
        await expect(badges).to_contain_text("坐席: 李四")
        await expect(history.locator(".msg-note")).to_contain_text(note)
        await expect(history.locator(".msg-note .note-badge")).to_have_text("转接备注")
        moved = chat.locator(".kf-msg.kf-system").last
        await expect(moved).to_have_text("会话已转接", timeout=LIVE)
        await expect(chat.locator("#kf-messages")).not_to_contain_text(note)
        seen = await visitor_api(kefu, customer, f"/conversations/{conversation_id}/messages")
        assert note not in str(seen)
        await visitor.shot("03-widget-after-transfer", full_page=False)

        await visitor.assert_clean()
        await agent.assert_clean()


# -- nobody online: 留言 -------------------------------------------------------------------------------
async def test_with_nobody_online_the_visitor_leaves_a_message(
    kefu: Kefu, open_tab: OpenTab, settings: Settings
) -> None:
    workspace = await prepare_workspace(settings)  # every agent offline
    with host_site(snippet(kefu.url, workspace.widget_key)) as site:
        visitor = await open_tab(kefu, "offline-visitor")
        chat = (await open_widget(visitor.page, site)).chat
        await expect(chat.locator("#kf-offline")).to_be_visible(timeout=LIVE)
        await expect(chat.locator("#kf-chat")).to_be_hidden()
        await expect(chat.locator("#kf-offline-text")).to_contain_text("请留下您的联系方式")
        await chat.locator("#kf-o-name").fill("郑子涵")
        await chat.locator("#kf-o-phone").fill("13800138000")
        await chat.locator("#kf-o-body").fill("想预约周六上门安装 X200，请回电。")
        await visitor.shot("04-widget-offline-form", full_page=False)
        await chat.locator("#kf-offline-form button[type=submit]").click()
        await expect(chat.locator("#kf-thanks")).to_be_visible()
        await expect(chat.locator("#kf-thanks")).to_contain_text("我们已收到您的留言")
        await visitor.assert_clean()

    agent = await open_tab(kefu, "offline-agent")
    await agent.login(login_of(kefu, AGENT_EMAIL))
    await agent.goto("/inbox?view=unassigned")
    row = agent.page.locator(".ws-row", has_text="郑子涵")
    await expect(row).to_be_visible()
    await row.locator("a").click()
    await expect(agent.page.locator("#ws-history .msg-customer .msg-body")).to_have_text(
        ["想预约周六上门安装 X200，请回电。"]
    )
    await expect(agent.page.locator(".ws-facts")).to_contain_text("13800138000")
    await agent.assert_clean()


# -- the server is killed and restarted --------------------------------------------------------------------
RECONNECT = 45_000  # ms: a restart, then both clients' backoff (about 1, 2, 4, 8 s between tries)


async def mine(chat: FrameLocator) -> tuple[list[str], list[int]]:
    """The visitor's own messages as the widget shows them: texts, and their numbers."""
    texts: list[str] = await chat.locator(".kf-msg.kf-mine .kf-bubble").all_inner_texts()
    seqs = [
        int(s or 0)
        for s in await chat.locator(".kf-msg.kf-mine").evaluate_all("ls => ls.map(l => l.dataset.seq)")
    ]
    return texts, seqs


async def all_acknowledged(chat: FrameLocator, count: int, *, wait_ms: float = LIVE) -> None:
    await expect(chat.locator('.kf-msg.kf-mine[data-seq=""]')).to_have_count(0, timeout=wait_ms)
    await expect(chat.locator(".kf-msg.kf-mine")).to_have_count(count, timeout=wait_ms)


async def assert_once_in_order(chat: FrameLocator, expected: list[str]) -> None:
    await expect(chat.locator(".kf-msg.kf-mine .kf-bubble")).to_have_text(expected)
    _, seqs = await mine(chat)
    assert 0 not in seqs, seqs  # all acknowledged
    assert seqs == sorted(set(seqs)), seqs  # once each, in order


async def test_every_acknowledged_message_survives_a_killed_server(
    kefu: Kefu, open_tab: OpenTab, settings: Settings
) -> None:
    workspace = await prepare_workspace(settings, online=frozenset({AGENT_EMAIL}))
    # Same site (127.0.0.1, another port): the frame keeps its storage, which the second tab needs.
    with host_site(snippet(kefu.url, workspace.widget_key), host="127.0.0.1") as site:
        visitor = await open_tab(kefu, "reconnect-visitor")
        customer = await open_widget(visitor.page, site)
        chat = customer.chat
        await start_chat(chat, "周敏")
        conversation_id = (await visitor_api(kefu, customer, "/conversations"))["items"][0]["id"]

        agent = await open_tab(kefu, "reconnect-agent")
        frames = Frames().attach(agent.page)
        await agent.login(login_of(kefu, AGENT_EMAIL))
        await agent.goto(f"/inbox/conversations/{conversation_id}")
        await frames.subscribed(f"conversation:{conversation_id}")
        history = agent.page.locator("#ws-history .msg-customer .msg-body")

        expected = [f"重连测试 第{n}条" for n in range(1, 8)]
        for text in expected[:3]:
            await send_visitor(chat, text)
        await all_acknowledged(chat, 3)
        await expect(history).to_have_text(expected[:3], timeout=LIVE)

        # SIGKILL: no goodbye to any socket, no flush; both clients notice the loss.
        process = kefu.server.proc
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        await expect(chat.locator("#kf-notice")).to_have_text("正在重新连接…", timeout=LIVE)
        await expect(agent.page.locator("#ws-live")).to_have_attribute("data-state", "offline", timeout=LIVE)

        # Written while the server is down: kept and shown as not sent yet.
        for text in expected[3:5]:
            await send_visitor(chat, text)
        await expect(chat.locator(".kf-msg.kf-mine.kf-failed")).to_have_count(2, timeout=LIVE)
        await expect(chat.locator(".kf-msg.kf-failed .kf-meta")).to_have_text(["尚未发送：将自动重试"] * 2)
        await expect(chat.locator("#kf-notice")).to_have_text("正在重新连接…")
        await visitor.shot("05-widget-server-down", full_page=False)

        await asyncio.to_thread(kefu.server.start)  # same port, same data directory and database
        await expect(chat.locator("#kf-notice")).to_be_hidden(timeout=RECONNECT)
        await all_acknowledged(chat, 5, wait_ms=RECONNECT)
        for text in expected[5:]:
            await send_visitor(chat, text)
        await all_acknowledged(chat, 7)
        await assert_once_in_order(chat, expected)

        await expect(agent.page.locator("#ws-live")).to_have_attribute(
            "data-state", "live", timeout=RECONNECT
        )
        await expect(history).to_have_text(expected, timeout=RECONNECT)
        await agent.shot("06-agent-after-restart")

        # The API agrees: each message stored once, in the order it was written.
        seen = await visitor_api(kefu, customer, f"/conversations/{conversation_id}/messages")
        customers = [m for m in seen["items"] if m["author_kind"] == "customer"]
        assert [m["body"] for m in customers] == expected
        agents_view = await agent.page.evaluate(
            "id => fetch(`/api/v1/conversations/${id}/messages?after_seq=0&limit=100`).then(r => r.json())",
            conversation_id,
        )
        stored = [m for m in agents_view if m["author_kind"] == "customer"]
        assert [m["body"] for m in stored] == expected
        assert [m["seq"] for m in stored] == sorted({m["seq"] for m in stored})

        # A second tab of the same visitor: the same conversation, every message once; and
        # what either tab sends shows once in both.
        second = await open_widget(await visitor.context.new_page(), site)
        await assert_once_in_order(second.chat, expected)
        await send_visitor(second.chat, "第二个标签页发的")
        expected.append("第二个标签页发的")
        await all_acknowledged(second.chat, 8)
        await all_acknowledged(chat, 8)
        await assert_once_in_order(second.chat, expected)
        await assert_once_in_order(chat, expected)
        await expect(history).to_have_text(expected, timeout=LIVE)

    # The server's death makes the browsers log failed requests; nothing may break in the page.
    for tab in (visitor, agent):
        assert not tab.page_errors, tab.page_errors
        assert not tab.csp_violations, tab.csp_violations
