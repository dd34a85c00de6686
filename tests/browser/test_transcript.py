"""The chat transcript by email, in a real browser: a visitor on an ordinary website (another
origin, the one-line snippet) chats, asks for the transcript with the keyboard, sees the
confirmation, and a real SMTP server (aiosmtpd, in this process) receives the mail that
`kefu serve`'s job runner sends; the agent sees that it went out. On a phone-sized screen a
wrong address is explained in the form, and the drawer fits the screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import FrameLocator, expect

from kefu.settings import Settings
from tests.browser.chat_support import host_site, prepare_workspace, snippet
from tests.browser.conftest import _LOGIN_LINE, PHONE, Kefu, Login, OpenTab
from tests.browser.test_live_chat import FRAME, LIVE, open_widget, send_visitor, start_chat
from tests.live import ServerProcess, running, settings_env
from tests.platform.test_mail import SENDER, SmtpSink

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

AGENT_EMAIL = "zhangsan@kefu.example"  # online, so the widget offers a chat (not the 留言 form)
CUSTOMER = "林晓雨"
ADDRESS = "lin.xiaoyu@example.com"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def kefu_mail(settings: Settings, tmp_path: Path, smtp: SmtpSink) -> Iterator[Kefu]:
    """`kefu serve` with its demo workspace, sending mail to the aiosmtpd server above."""
    env = settings_env(
        settings,
        KEFU_DEFAULT_LOCALE="zh_CN",
        KEFU_SMTP_HOST="127.0.0.1",
        KEFU_SMTP_PORT=str(smtp.port),
        KEFU_MAIL_FROM=SENDER,
        KEFU_JOB_POLL_SECONDS="0.5",
    )
    server = ServerProcess(env, args=(), log=tmp_path / "serve.log")
    with running(server):
        yield Kefu(server, [Login(*found) for found in _LOGIN_LINE.findall(server.log())])


async def transcript_button(chat: FrameLocator) -> None:
    """Reach the header action with the keyboard and open it with Enter."""
    button = chat.get_by_role("button", name="发送聊天记录")
    await expect(button).to_be_visible()
    await expect(button).to_have_attribute("aria-expanded", "false")
    await button.focus()
    await button.press("Enter")
    await expect(button).to_have_attribute("aria-expanded", "true")
    await expect(chat.locator("#kf-t-email")).to_be_focused()


async def test_the_visitor_gets_the_transcript_by_email(
    kefu_mail: Kefu, open_tab: OpenTab, settings: Settings, smtp: SmtpSink
) -> None:
    workspace = await prepare_workspace(settings, online=frozenset({AGENT_EMAIL}))
    with host_site(snippet(kefu_mail.url, workspace.widget_key)) as site:
        visitor = await open_tab(kefu_mail, "visitor")
        customer = await open_widget(visitor.page, site)
        chat = customer.chat
        await expect(chat.locator("#kf-prechat")).to_be_visible(timeout=LIVE)
        await expect(chat.get_by_role("button", name="发送聊天记录")).to_be_hidden()  # no chat yet
        await chat.locator("#kf-p-email").fill(ADDRESS)
        await start_chat(chat, CUSTOMER)
        await expect(chat.locator(".kf-msg.kf-bot")).to_contain_text("欢迎咨询")
        await send_visitor(chat, "请问 X200 空调的退货政策是什么？")
        await expect(chat.locator('.kf-msg.kf-mine[data-seq=""]')).to_have_count(0, timeout=LIVE)

        await transcript_button(chat)
        field = chat.locator("#kf-t-email")
        await expect(field).to_have_value(ADDRESS)  # what the pre-chat form was given
        await field.press("Enter")
        done = chat.locator("#kf-transcript-done")
        await expect(done).to_have_text(f"聊天记录正在发送至 {ADDRESS}。", timeout=LIVE)
        line = chat.locator(".kf-msg.kf-system").last
        await expect(line).to_have_text(f"聊天记录已发送至 {ADDRESS}", timeout=LIVE)
        await visitor.shot("01-transcript-sent", full_page=False)

        [got] = await smtp.wait(1, within=30)
        assert got.rcpt_tos == [ADDRESS]
        message = got.message()
        assert str(message["Subject"]).startswith("聊天记录 KF-")
        text = got.text()
        welcome, question = text.find("您好，欢迎咨询！"), text.find("您：\n请问 X200 空调的退货政策是什么？")
        assert 0 <= welcome < question, text
        assert "&lt;" not in text
        assert "请问 X200 空调的退货政策是什么？" in got.html()

        await chat.locator("#kf-t-email").press("Escape")  # closes, and focus returns to the action
        await expect(chat.locator("#kf-transcript")).to_be_hidden()
        await expect(chat.get_by_role("button", name="发送聊天记录")).to_be_focused()
        await visitor.assert_clean()

    # The agent sees in the history that the transcript went out.
    conversation = str(message["Subject"]).split()[1]
    agent = await open_tab(kefu_mail, "agent")
    agent_login = next(login for login in kefu_mail.logins if login.email == AGENT_EMAIL)
    await agent.login(agent_login)
    await agent.goto(f"/inbox/conversations/{int(conversation.removeprefix('KF-')) - 10000}")
    await expect(agent.page.locator("#ws-history .msg-system").last).to_contain_text(ADDRESS)
    await agent.assert_clean()


async def test_on_a_phone_a_wrong_address_is_explained(
    kefu_mail: Kefu, open_tab: OpenTab, settings: Settings, smtp: SmtpSink
) -> None:
    workspace = await prepare_workspace(settings, online=frozenset({AGENT_EMAIL}))
    with host_site(snippet(kefu_mail.url, workspace.widget_key)) as site:
        # A phone-sized window (no is_mobile: the host page has no viewport tag, it would be 980px wide).
        visitor = await open_tab(kefu_mail, "phone", viewport=PHONE, has_touch=True)
        await visitor.page.goto(site)
        await visitor.page.get_by_role(
            "button", name="在线客服"
        ).tap()  # then hidden: the chat fills the screen
        await expect(visitor.page.locator(FRAME)).to_be_visible()
        chat = visitor.page.frame_locator(FRAME)
        await start_chat(chat, CUSTOMER)  # no email in the pre-chat form this time
        await send_visitor(chat, "你好")
        await transcript_button(chat)
        field = chat.locator("#kf-t-email")
        await expect(field).to_have_value("")
        await field.fill("lin.xiaoyu@example")
        await chat.locator("#kf-transcript-send").tap()
        error = chat.locator('#kf-transcript [data-error-for="email"]')
        await expect(error).to_have_text("请输入有效的邮箱地址。")
        await expect(chat.locator("#kf-transcript-done")).to_be_hidden()
        overflow = await chat.locator("body").evaluate(
            "b => document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        box = await visitor.page.locator(FRAME).bounding_box()
        assert box is not None
        assert box["width"] >= PHONE["width"] - 1  # the chat fills a phone's screen
        await visitor.shot("02-transcript-phone-error", full_page=False)

        await field.fill(ADDRESS)
        await field.press("Enter")
        await expect(chat.locator("#kf-transcript-done")).to_have_text(f"聊天记录正在发送至 {ADDRESS}。")
        await expect(error).to_be_hidden()
        [got] = await smtp.wait(1, within=30)
        assert got.rcpt_tos == [ADDRESS]
        number = str(got.message()["Subject"]).split()[1]  # 聊天记录 KF-10001 — …
        refused = f"/api/v1/widget/conversations/{int(number.removeprefix('KF-')) - 10000}/transcript"
        await visitor.assert_clean(allow_status_of=[refused])  # the 422 of the wrong address
