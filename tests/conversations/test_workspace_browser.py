"""The workspace in a real browser: keyboard navigation, a live reply from a colleague, the
collision warning and the help overlay — with no console error and no CSP violation."""

# ruff: noqa: F811  # the browser suite's fixtures are imported by name and used as parameters
from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from kefu.conversations import service
from kefu.conversations.rules import Channel
from kefu.conversations.service import Author
from kefu.platform.db import Database
from kefu.settings import Settings
from tests.browser.conftest import (  # noqa: F401  # fixtures shared with the browser suite
    Kefu,
    OpenTab,
    browser,
    chromium,
    kefu,
    open_tab,
    playwright,
    screenshot_dir,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

# Endpoints of other parts of the workspace; the page copes when they are not there.
OPTIONAL = [
    "/api/v1/presence/me",
    "/api/v1/presence/heartbeat",
    "/api/v1/macros",
    "/api/v1/quick-replies/suggest",
]


async def _seed_conversation(settings: Settings) -> int:
    db = Database(settings.db_url)
    try:
        async with db.transaction() as session:
            contact = await service.resolve_contact(
                session, kind="visitor", value="browser-test", name="刘洋"
            )
            opened = await service.open_conversation(session, channel=Channel.web_chat, contact_id=contact.id)
            await service.post_message(
                session, opened.id, author=Author.customer(contact.id, "刘洋"), body="<b>X200</b> 有优惠吗？"
            )
            return opened.id
    finally:
        await db.dispose()


async def test_two_agents_work_on_one_conversation_live(
    kefu: Kefu, open_tab: OpenTab, settings: Settings
) -> None:
    conversation_id = await asyncio.to_thread(lambda: asyncio.run(_seed_conversation(settings)))
    number = f"KF-{10000 + conversation_id}"
    agent = await open_tab(kefu, "agent")
    await agent.login(kefu.login("agent"))
    await agent.goto("/inbox?view=all")
    page = agent.page
    row = page.locator(f'.ws-row[data-conversation-id="{conversation_id}"]')
    await expect(row).to_contain_text(number)
    await expect(row).to_contain_text("<b>X200</b> 有优惠吗？")  # text, not markup
    await expect(page.locator("#ws-live")).to_have_attribute("data-state", "live")
    selected = page.locator(".ws-row.selected")
    for _ in range(10):  # j moves down the list until our conversation is selected
        await page.keyboard.press("j")
        if await selected.get_attribute("data-conversation-id") == str(conversation_id):
            break
    await expect(selected).to_have_attribute("data-conversation-id", str(conversation_id))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(agent.url(f"/inbox/conversations/{conversation_id}"))
    await expect(page.locator("#ws-live")).to_have_attribute("data-state", "live")

    colleague = await open_tab(kefu, "supervisor")
    await colleague.login(kefu.login("supervisor"))
    await colleague.goto(f"/inbox/conversations/{conversation_id}")
    await expect(colleague.page.locator("#ws-live")).to_have_attribute("data-state", "live")
    await expect(page.locator("#ws-collision")).to_contain_text("王主管")

    composer = colleague.page.locator("#composer-body")
    await composer.fill("您好，这款目前九折。")
    await composer.press("Enter")
    await expect(composer).to_have_value("")
    await expect(page.locator("#ws-history")).to_contain_text("您好，这款目前九折。")
    await expect(colleague.page.locator("#ws-history")).to_contain_text("您好，这款目前九折。")

    await page.locator("body").press("?")
    await expect(page.locator("#ws-help")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#ws-help")).to_be_hidden()
    await agent.shot("conversation")
    await agent.assert_clean(allow_status_of=OPTIONAL)
    await colleague.assert_clean(allow_status_of=OPTIONAL)
