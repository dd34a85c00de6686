"""The first visit, as a person makes it: log in with the demo admin login that `kefu serve`
printed, find the UI in Chinese, switch to English and back with the top-bar buttons, and
rename the workspace in the general settings."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Kefu, OpenTab

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

NEW_NAME = "客服中心 QA"


async def test_admin_logs_in_switches_language_and_renames_the_workspace(
    kefu: Kefu, open_tab: OpenTab
) -> None:
    admin = kefu.login("admin")
    tab = await open_tab(kefu, "admin")
    page = tab.page
    html = page.locator("html")
    topbar = page.locator("header.topbar")
    brand = topbar.locator("a.brand")
    nav = page.get_by_role("navigation", name="主导航")

    # Opening kefu leads to the login page, in Chinese: the default language, and the browser's.
    await page.goto(tab.url("/"))
    await expect(page).to_have_url(tab.url("/login?next=%2F"))
    await expect(html).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("登录")
    await expect(page.get_by_label("邮箱")).to_be_visible()
    await expect(page.get_by_label("密码")).to_be_visible()
    old_name = (await brand.inner_text()).strip()
    assert old_name, "the top bar shows no workspace name"
    await tab.shot("01-login")

    await page.get_by_label("邮箱").fill(admin.email)
    await page.get_by_label("密码").fill(admin.password)
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page).to_have_url(tab.url("/"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("您好")
    await expect(nav.get_by_role("link", name="首页")).to_have_attribute("aria-current", "page")
    await expect(nav.get_by_role("link")).to_have_text(
        ["首页", "收件箱", "快捷回复", "坐席状态", "人员需求", "系统管理"]
    )
    await expect(topbar.get_by_role("button", name="退出登录")).to_be_visible()
    await tab.shot("02-home-zh")

    # English, with the top-bar button; the page stays the same.
    await topbar.get_by_role("button", name="English").click()
    await expect(html).to_have_attribute("lang", "en")
    await expect(page).to_have_url(tab.url("/"))
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Start")).to_be_visible()
    await expect(nav.get_by_role("link", name="Administration")).to_be_visible()
    await expect(topbar.get_by_role("button", name="Log out")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    await expect(topbar.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "true")
    await expect(nav.get_by_role("link")).to_have_text(
        ["Start", "Inbox", "Quick replies", "Agent status", "Staffing", "Administration"]
    )
    await tab.shot("03-home-en")

    # And back to Chinese.
    await topbar.get_by_role("button", name="简体中文").click()
    await expect(html).to_have_attribute("lang", "zh-CN")
    nav = page.get_by_role("navigation", name="主导航")
    await expect(nav.get_by_role("link")).to_have_text(
        ["首页", "收件箱", "快捷回复", "坐席状态", "人员需求", "系统管理"]
    )
    await expect(topbar.get_by_role("button", name="简体中文")).to_have_attribute("aria-pressed", "true")

    # 系统管理 → 常规设置: rename the workspace.
    await nav.get_by_role("link", name="系统管理").click()
    await expect(page).to_have_url(tab.url("/admin"))
    await page.get_by_role("navigation", name="系统管理").get_by_role("link", name="常规设置").click()
    await expect(page).to_have_url(tab.url("/admin/settings"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("常规设置")
    name_field = page.get_by_label("工作区名称")
    await expect(name_field).to_have_value(old_name)
    await name_field.fill(NEW_NAME)
    await tab.shot("04-settings-edited")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("设置已保存。")
    await expect(page.get_by_label("工作区名称")).to_have_value(NEW_NAME)
    await expect(brand).to_have_text(NEW_NAME)
    await tab.shot("05-settings-saved")

    # The new name is in the top bar of every page, and stays after a reload.
    await nav.get_by_role("link", name="首页").click()
    await expect(page).to_have_url(tab.url("/"))
    await expect(brand).to_have_text(NEW_NAME)
    await expect(page).to_have_title("首页 · kefu")
    await page.reload()
    await expect(brand).to_have_text(NEW_NAME)
    await expect(page.locator("body")).not_to_contain_text(old_name)
    await tab.shot("06-home-renamed")
    await tab.assert_clean()

    # Someone who is not logged in sees it on the login page too.
    visitor = await open_tab(kefu, "visitor")
    await visitor.goto("/login")
    await expect(visitor.page.get_by_role("heading", level=1)).to_have_text(f"登录 {NEW_NAME}")
    await visitor.assert_clean()
