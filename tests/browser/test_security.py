"""Security as a browser sees it: what an agent may open, names that look like HTML, the
Content-Security-Policy on every page, and forms that arrive without their CSRF token."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Route, expect

from tests.browser.conftest import Kefu, OpenTab, Tab
from tests.live import free_port

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

PAYLOAD = "<img src=x onerror=alert(1)>"
WORKSPACE_PAYLOAD = "</title><script>alert(2)</script>客服"
ADMIN_ONLY = ["/admin/users", "/admin/roles", "/admin/settings", "/admin/audit", "/admin/jobs"]

# What the CSP would have to block: inline scripts, inline styles, inline event handlers.
_INLINE_CODE = """() => {
  const found = [];
  for (const el of document.querySelectorAll("script:not([src]), style")) {
    found.push(`<${el.localName}> ${el.textContent.slice(0, 60)}`);
  }
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (attr.name === "style" || attr.name.startsWith("on") || /^\\s*javascript:/i.test(attr.value)) {
        found.push(`<${el.localName} ${attr.name}="${attr.value.slice(0, 60)}">`);
      }
    }
  }
  return found;
}"""


async def test_an_agent_sees_no_administration_it_may_not_use(kefu: Kefu, open_tab: OpenTab) -> None:
    agent = await open_tab(kefu, "agent")
    page = agent.page
    await agent.login(kefu.login("agent"))
    links = {
        urlsplit(href).path for href in await page.locator("a[href]").evaluate_all("a => a.map(e => e.href)")
    }
    assert not links & set(ADMIN_ONLY), links

    # Agents may look at teams and business hours, so 系统管理 offers exactly those, nothing more.
    await page.get_by_role("navigation", name="主导航").get_by_role("link", name="系统管理").click()
    await expect(page).to_have_url(agent.url("/admin"))
    sidebar = page.get_by_role("navigation", name="系统管理")
    await expect(sidebar.get_by_role("link")).to_have_text(["团队", "服务时间"])
    sidebar_paths = {
        urlsplit(h).path for h in await sidebar.locator("a").evaluate_all("a => a.map(e => e.href)")
    }
    assert not sidebar_paths & set(ADMIN_ONLY), sidebar_paths
    await agent.shot("01-admin-overview")

    # Typing the address of a page for administrators gets the 403 page, in Chinese.
    for path in ADMIN_ONLY:
        await agent.goto(path, status=403)
        await expect(page.locator(".error-code")).to_have_text("403")
        await expect(page.get_by_role("heading", level=1)).to_have_text("没有权限")
        await expect(page.get_by_role("link", name="返回首页")).to_be_visible()
    await agent.shot("02-forbidden")
    await agent.assert_clean(allow_status_of=ADMIN_ONLY)


async def test_names_that_look_like_html_are_shown_as_text(kefu: Kefu, open_tab: OpenTab) -> None:
    # An agent names themselves with markup (their own profile form)…
    agent = await open_tab(kefu, "xss-agent")
    await agent.login(kefu.login("agent"))
    await agent.goto("/account")
    await agent.page.get_by_label("名称", exact=True).fill(PAYLOAD)
    await agent.page.locator("#profile").get_by_role("button", name="保存").click()
    await expect(agent.page.get_by_role("status")).to_have_text("个人资料已保存。")
    await expect(agent.page.locator("header .who")).to_have_text(PAYLOAD)
    await agent.goto("/")
    await expect(agent.page.get_by_role("heading", level=1)).to_have_text(f"您好，{PAYLOAD}")
    await _no_injected_markup(agent)
    await agent.shot("01-home")

    # …and an administrator looks at them wherever names appear.
    admin = await open_tab(kefu, "xss-admin")
    page = admin.page
    await admin.login(kefu.login("admin"))
    await admin.goto("/admin/users")
    link = page.locator("#users-table").get_by_role("link", name=PAYLOAD, exact=True)
    await expect(link).to_be_visible()
    await _no_injected_markup(admin)
    await admin.shot("01-users")
    await link.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(PAYLOAD)
    await expect(page).to_have_title(f"{PAYLOAD} · kefu")
    await _no_injected_markup(admin)
    for path in ["/admin", "/admin/audit", "/admin/teams"]:
        await admin.goto(path)
        await expect(page.get_by_role("main")).to_contain_text(PAYLOAD)
        await _no_injected_markup(admin)

    # The workspace name is in every page's <title> and top bar.
    await admin.goto("/admin/settings")
    await page.get_by_label("工作区名称").fill(WORKSPACE_PAYLOAD)
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("设置已保存。")
    await expect(page.locator("header a.brand")).to_have_text(WORKSPACE_PAYLOAD)
    await expect(page).to_have_title("常规设置 · kefu")
    await _no_injected_markup(admin)
    visitor = await open_tab(kefu, "xss-visitor")
    await visitor.goto("/login")
    await expect(visitor.page.get_by_role("heading", level=1)).to_have_text(f"登录 {WORKSPACE_PAYLOAD}")
    await expect(visitor.page.locator("header a.brand")).to_have_text(WORKSPACE_PAYLOAD)
    await _no_injected_markup(visitor)
    await admin.shot("02-workspace-name")

    for tab in (agent, admin, visitor):
        assert not [url for url in tab.requests if urlsplit(url).path == "/x"], "the <img> was created"
        await tab.assert_clean()  # includes: no dialog opened


async def _no_injected_markup(tab: Tab) -> None:
    assert await tab.page.locator("img").count() == 0
    assert await tab.page.locator("main script, header script").count() == 0
    assert await tab.page.evaluate(_INLINE_CODE) == []


async def test_every_page_keeps_to_the_content_security_policy(kefu: Kefu, open_tab: OpenTab) -> None:
    admin = await open_tab(kefu, "csp-admin")
    page = admin.page
    await admin.goto("/login")
    assert await page.evaluate(_INLINE_CODE) == []
    await admin.login(kefu.login("admin"))

    # Every page an administrator reaches by links from the start page (the API docs have their own test).
    seen: set[str] = set()
    queue = ["/"]
    while queue and len(seen) < 60:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = await admin.goto(path)
        csp = await response.header_value("content-security-policy") or ""
        assert "script-src 'self'" in csp, csp
        assert "style-src 'self'" in csp, csp
        # The widget's demo page plays a customer's website: the embed loader positions its own
        # button and frame through the CSSOM (which CSP allows), and that shows as style attributes.
        if not (path.startswith("/widget/") and path.endswith("/demo")):
            assert await page.evaluate(_INLINE_CODE) == [], path
        for href in await page.locator("a[href]").evaluate_all("a => a.map(e => e.href)"):
            target = urlsplit(href)
            if href.startswith(admin.base) and not target.path.startswith(("/api/", "/static/")):
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
    for expected in ["/admin/users", "/admin/users/new", "/admin/teams/new", "/admin/settings", "/account"]:
        assert expected in seen, sorted(seen)
    assert any(re.fullmatch(r"/admin/users/\d+", path) for path in seen), sorted(seen)

    # htmx at work: the live filter swaps the table in, and the CSP does not mind.
    await admin.goto("/admin/users")
    async with page.expect_response(lambda r: "q=" in r.url):
        await page.get_by_role("searchbox").fill("张")
    await expect(page.locator("#users-table tbody tr").first).to_contain_text("张")
    assert await page.evaluate(_INLINE_CODE) == []
    await admin.assert_clean()


async def test_a_form_without_its_csrf_token_is_refused(kefu: Kefu, open_tab: OpenTab) -> None:
    admin = await open_tab(kefu, "csrf-admin")
    page = admin.page
    await admin.login(kefu.login("admin"))
    await admin.goto("/admin/settings")
    name = page.get_by_label("工作区名称")
    old_name = await name.input_value()

    # The browser loses its CSRF cookie (as after clearing cookies) while the form is open.
    await admin.context.clear_cookies(name="kefu_csrf")
    await name.fill("被篡改的名称")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("安全校验失败")
    await expect(page.locator(".error-code")).to_have_text("403")
    await expect(page.get_by_role("main")).to_contain_text("表单已过期或来自其他网站")
    await admin.shot("01-csrf-failed")

    # A page on another origin of the same site (cookies go along) posts a form to kefu.
    evil = f"http://127.0.0.1:{free_port()}/prize"
    form = (
        f'<form method="post" action="{admin.url("/admin/settings")}">'
        '<input name="name" value="被篡改的名称"><input name="timezone" value="UTC">'
        "<button>领奖</button></form>"
    )

    async def serve_evil_page(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=form)

    await page.route(evil, serve_evil_page)
    await page.goto(evil)
    await page.get_by_role("button", name="领奖").click()
    await expect(page).to_have_url(admin.url("/admin/settings"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("安全校验失败")

    # Neither changed anything; the administrator is still logged in and can save normally.
    await admin.goto("/admin/settings")
    await expect(name).to_have_value(old_name)
    await expect(page.locator("header a.brand")).to_have_text(old_name)
    await name.fill("客服中心")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("设置已保存。")
    await admin.assert_clean(allow_status_of=["/admin/settings"])


async def test_the_watch_reports_csp_violations_and_dialogs(kefu_no_demo: Kefu, open_tab: OpenTab) -> None:
    """The checks above can fail: inline markup on a kefu page is reported."""
    tab = await open_tab(kefu_no_demo, "watch")
    await tab.goto("/login")
    assert tab.problems() == []
    await tab.page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    await tab.page.evaluate("alert('hello')")
    for _ in range(50):  # the report arrives asynchronously
        if tab.csp_violations:
            break
        await tab.page.wait_for_timeout(100)
    problems = "\n".join(tab.problems())
    assert "style-src" in problems, problems
    assert "dialog: alert: hello" in problems, problems
    assert await tab.page.evaluate(_INLINE_CODE) == ['<p style="color: red">']
