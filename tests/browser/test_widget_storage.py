"""A visitor whose browser gives the chat frame no storage is still remembered.

The chat frame is third-party on the host's site; browsers that block third-party storage (a
privacy setting, some browsers by default) make its ``localStorage`` throw. Then the loader,
first-party on the host page, keeps the frame's few values (visitor token, read position,
unsent messages) for it, so a reload of the site finds the same visitor and conversation.
Where the frame's own storage works, the host page keeps nothing. (Headless Chromium, as the
tests run it, already refuses storage to a frame from another site; the init script below
makes the test say so whatever the browser's defaults.)
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from kefu.settings import Settings
from tests.browser.chat_support import host_site, prepare_workspace, snippet
from tests.browser.conftest import Kefu, OpenTab
from tests.browser.test_live_chat import AGENT_EMAIL, LIVE, open_widget, send_visitor, start_chat

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

# Run in every frame before its scripts: what a browser that blocks third-party storage does to
# the chat frame (a SecurityError on any use of localStorage).
BLOCK_FRAME_STORAGE = """
if (window.location.origin === %s) {
  Object.defineProperty(window, "localStorage", {
    get() { throw new DOMException("The operation is insecure.", "SecurityError"); }
  });
}
"""
FRAME_HAS_STORAGE = "() => { try { window.localStorage.length; return true; } catch (e) { return false; } }"
KEPT_KEYS = "prefix => Object.keys(window.localStorage).filter(k => k.startsWith(prefix)).sort()"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def test_without_frame_storage_the_host_page_keeps_the_visitor(
    kefu: Kefu, open_tab: OpenTab, settings: Settings
) -> None:
    workspace = await prepare_workspace(settings, online=frozenset({AGENT_EMAIL}))
    prefix = f"kefu:{workspace.widget_key}:"
    with host_site(snippet(kefu.url, workspace.widget_key)) as site:
        visitor = await open_tab(kefu, "blocked")
        await visitor.page.context.add_init_script(BLOCK_FRAME_STORAGE % repr(_origin(kefu.url)))
        first = await open_widget(visitor.page, site)
        assert await first.chat.locator("body").evaluate(FRAME_HAS_STORAGE) is False
        await start_chat(first.chat, "周敏")
        await send_visitor(first.chat, "我的订单还没到")
        mine = first.chat.locator(".kf-msg.kf-mine")
        await expect(mine).to_have_text(["我的订单还没到"], timeout=LIVE)
        await expect(first.chat.locator('.kf-msg.kf-mine[data-seq=""]')).to_have_count(0, timeout=LIVE)
        kept = await visitor.page.evaluate(KEPT_KEYS, prefix)
        assert f"{prefix}token" in kept, kept

        # A reload of the site: the same visitor and conversation, no pre-chat form again.
        again = await open_widget(visitor.page, site)
        await expect(again.chat.locator(".kf-msg.kf-mine")).to_have_text(["我的订单还没到"], timeout=LIVE)
        await expect(again.chat.locator("#kf-prechat")).to_be_hidden()
        await send_visitor(again.chat, "麻烦帮我查一下")
        await expect(again.chat.locator(".kf-msg.kf-mine")).to_have_text(
            ["我的订单还没到", "麻烦帮我查一下"], timeout=LIVE
        )
        await visitor.shot("01-remembered-after-reload", full_page=False)
        await visitor.assert_clean()

    # Where the frame can store (here: the host page on the same site as kefu), the host page
    # keeps nothing of the chat.
    with host_site(snippet(kefu.url, workspace.widget_key), host="127.0.0.1") as same_site:
        normal = await open_tab(kefu, "normal")
        chat = (await open_widget(normal.page, same_site)).chat
        assert await chat.locator("body").evaluate(FRAME_HAS_STORAGE) is True
        await start_chat(chat, "林晓雨")
        await send_visitor(chat, "你好")
        await expect(chat.locator('.kf-msg.kf-mine[data-seq=""]')).to_have_count(0, timeout=LIVE)
        assert await normal.page.evaluate(KEPT_KEYS, prefix) == []
        await normal.assert_clean()
