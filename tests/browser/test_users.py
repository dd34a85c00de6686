"""An administrator manages a user in the browser: creates one through the form, finds it
with the live filter (htmx, no page load), changes the role and deactivates it; the new
user can log in until then, and not after."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright._impl._async_base import AsyncEventContextManager
from playwright.async_api import Page, Response, expect

from tests.browser.conftest import Kefu, Login, OpenTab

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

NAME = "陈小明"
EMAIL = "chen.xiaoming@example.com"
PASSWORD = "Xiaoming-2026-secret"


def _filtered_by(page: Page, **query: str) -> AsyncEventContextManager[Response]:
    """Waits for the users table that htmx fetches for these filter values."""

    def matches(response: Response) -> bool:
        url = urlsplit(response.url)
        sent = {key: values[0] for key, values in parse_qs(url.query).items()}
        return url.path == "/admin/users" and all(sent.get(key, "") == value for key, value in query.items())

    return page.expect_response(matches)


async def test_admin_creates_finds_edits_and_deactivates_a_user(kefu: Kefu, open_tab: OpenTab) -> None:
    admin = await open_tab(kefu, "admin")
    page = admin.page
    await admin.login(kefu.login("admin"))
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="系统管理").click()
    await page.get_by_role("navigation", name="系统管理").get_by_role("link", name="用户").click()
    await expect(page).to_have_url(admin.url("/admin/users"))
    rows = page.locator("#users-table tbody tr")
    await expect(rows.first).to_be_visible()
    demo_users = await rows.count()

    # Create: a Chinese name, role agent, one team, a first password.
    await page.get_by_role("link", name="新建用户").click()
    await expect(page).to_have_url(admin.url("/admin/users/new"))
    await page.get_by_label("名称", exact=True).fill(NAME)
    await page.get_by_label("邮箱", exact=True).fill(EMAIL)
    await page.get_by_label("角色", exact=True).select_option(label="坐席")
    await page.get_by_label("密码", exact=True).fill(PASSWORD)
    await page.get_by_label("售前咨询").check()
    await admin.shot("01-new-user-form")
    await page.get_by_role("button", name="创建用户").click()
    await expect(page).to_have_url(re.compile(re.escape(admin.url("/admin/users/")) + r"\d+$"))
    user_path = urlsplit(page.url).path
    await expect(page.get_by_role("status")).to_have_text(f"已创建用户“{NAME}”。")
    await expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    await expect(page.get_by_label("角色", exact=True)).to_have_value("agent")
    await expect(page.get_by_label("售前咨询")).to_be_checked()
    await expect(page.get_by_label("售后服务")).not_to_be_checked()
    await admin.shot("02-user-created")

    # The list shows the new user.
    await page.get_by_role("navigation", name="系统管理").get_by_role("link", name="用户").click()
    await expect(page).to_have_url(admin.url("/admin/users"))
    await expect(rows).to_have_count(demo_users + 1)
    await expect(rows.filter(has_text=NAME).locator("td")).to_have_text(
        [NAME, EMAIL, "坐席", "售前咨询", "—", "在职"]
    )

    # The live filter: typing narrows the table in place (an htmx request, no page load).
    await page.evaluate("window.kefuTestSameDocument = true")
    search = page.get_by_role("searchbox", name="搜索")
    async with _filtered_by(page, q="小明") as found:
        await search.press_sequentially("小明", delay=40)
    response = await found.value
    assert response.request.headers.get("hx-request") == "true", "the filter did not go through htmx"
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(NAME)
    assert "q=%E5%B0%8F%E6%98%8E" in page.url, "the filter is not in the address (reload/share would lose it)"
    await admin.shot("03-live-filter")
    async with _filtered_by(page, q="没有这个人"):
        await search.fill("没有这个人")
    await expect(rows).to_have_text(["没有符合条件的用户。"])
    async with _filtered_by(page, q=""):
        await search.fill("")
    await expect(rows).to_have_count(demo_users + 1)
    assert await page.evaluate("window.kefuTestSameDocument === true"), "filtering reloaded the page"
    await expect(page).to_have_url(re.compile(re.escape(admin.url("/admin/users")) + r"(\?.*)?$"))

    # The new user logs in (in another browser).
    person = await open_tab(kefu, "new-user")
    await person.login(Login("agent", EMAIL, PASSWORD))
    await expect(person.page.get_by_role("heading", level=1)).to_have_text(f"您好，{NAME}")
    await expect(person.page.locator("header .who")).to_have_text(NAME)
    await expect(person.page.get_by_role("main")).to_contain_text("坐席")
    await person.shot("01-logged-in")

    # The administrator makes the user a supervisor.
    await admin.goto(user_path)
    await page.get_by_label("角色", exact=True).select_option(label="主管")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("已保存。")
    await expect(page.get_by_label("角色", exact=True)).to_have_value("supervisor")
    await admin.goto("/admin/users")
    async with _filtered_by(page, role="supervisor"):
        await page.get_by_role("combobox", name="角色").select_option("supervisor")
    await expect(rows.filter(has_text=NAME).locator("td").nth(2)).to_have_text("主管")
    for role_cell in await rows.locator("td:nth-child(3)").all():
        await expect(role_cell).to_have_text("主管")

    # The user's next page knows the new role: supervisors see the team overview.
    await person.page.reload()
    await expect(person.page.get_by_role("main").locator("p.muted").first).to_contain_text("主管")

    # Deactivate: untick 启用 and save.
    await admin.goto(user_path)
    active = page.get_by_label("启用（可以登录）")
    await expect(active).to_be_checked()
    await active.uncheck()
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("已保存。")
    await expect(page.get_by_label("启用（可以登录）")).not_to_be_checked()
    await admin.shot("04-deactivated")

    # The list of active users no longer has it; the deactivated ones do.
    await admin.goto("/admin/users")
    await expect(rows).to_have_count(demo_users)
    await expect(rows.filter(has_text=NAME)).to_have_count(0)
    async with _filtered_by(page, status="inactive"):
        await page.get_by_role("combobox", name="状态").select_option("inactive")
    await expect(rows.filter(has_text=NAME).locator("td").last).to_have_text("已停用")
    await admin.shot("05-deactivated-list")
    assert await page.evaluate("window.kefuTestSameDocument === undefined")  # a fresh page, as expected
    await admin.assert_clean()

    # The user's session has ended, and the password no longer lets them in.
    await person.page.reload()
    await expect(person.page).to_have_url(person.url("/login?next=%2F"))
    await person.page.get_by_label("邮箱").fill(EMAIL)
    await person.page.get_by_label("密码").fill(PASSWORD)
    await person.page.get_by_role("button", name="登录", exact=True).click()
    await expect(person.page.get_by_role("alert")).to_have_text("邮箱或密码不正确。")
    await expect(person.page).to_have_url(person.url("/login"))
    await person.shot("02-login-refused")
    await person.assert_clean(allow_status_of=["/login"])
