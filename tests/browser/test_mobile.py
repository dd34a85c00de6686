"""On a phone (390×844, and the narrowest phones, 320 wide) no page scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.async_api import ViewportSize, expect

from tests.browser.conftest import PHONE, Kefu, OpenTab, Tab

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

NARROW = ViewportSize(width=320, height=640)


async def _fits(tab: Tab, path: str, shot: str) -> None:
    await tab.goto(path)
    overflow = await tab.horizontal_overflow()
    await tab.shot(shot)
    assert overflow <= 0, f"{path} is {overflow}px wider than the {tab.page.viewport_size} viewport"


async def test_login_and_account_pages_fit_a_phone(kefu: Kefu, open_tab: OpenTab) -> None:
    tab = await open_tab(kefu, "phone", viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = tab.page
    await _fits(tab, "/login", "01-login")
    # The page's viewport meta tag is honoured (a mobile browser lays out pages 980 wide without one).
    assert await page.evaluate("window.innerWidth") == PHONE["width"]
    await expect(page.get_by_role("button", name="登录", exact=True)).to_be_in_viewport()
    await tab.login(kefu.login("admin"))
    await _fits(tab, "/account", "02-account")
    await _fits(tab, "/", "03-home")
    await _fits(tab, "/admin/users", "04-users")
    await _fits(tab, "/admin/settings", "05-settings")

    # The top bar wraps instead of pushing the log-out button off the screen.
    logout = page.locator("header").get_by_role("button", name="退出登录")
    box = await logout.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= PHONE["width"], box

    await page.set_viewport_size(NARROW)
    await _fits(tab, "/account", "06-account-320")
    await tab.assert_clean()

    visitor = await open_tab(kefu, "phone-visitor", viewport=NARROW, is_mobile=True, has_touch=True)
    await _fits(visitor, "/login", "01-login-320")
    await visitor.assert_clean()
