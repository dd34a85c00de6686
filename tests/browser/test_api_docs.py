"""/api/docs: Swagger UI from the vendored bundle, under kefu's Content-Security-Policy."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Kefu, OpenTab

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_swagger_ui_renders_the_api_without_console_errors(
    kefu_no_demo: Kefu, open_tab: OpenTab
) -> None:
    tab = await open_tab(kefu_no_demo, "docs")
    page = tab.page
    response = await tab.goto("/api/docs")
    csp = await response.header_value("content-security-policy") or ""
    assert "script-src 'self'" in csp, csp  # the page is held to the same policy as the others

    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible()
    assert await operations.count() > 10
    await expect(page.locator(".info .title")).to_contain_text("kefu API")
    users = page.locator(".opblock-get", has=page.locator('[data-path="/api/v1/users"]'))
    await expect(users).to_be_visible()

    # Opening an operation renders its details (React, styles from the vendored CSS).
    await users.locator(".opblock-summary").click()
    await expect(users.locator(".opblock-body")).to_be_visible()
    await expect(users.get_by_role("button", name="Try it out")).to_be_visible()
    await expect(users.locator(".responses-wrapper")).to_contain_text("200")
    await tab.shot("01-swagger-ui", full_page=False)

    # "Try it out" calls the API from the page (connect-src 'self'); without a token it answers 401.
    await users.get_by_role("button", name="Try it out").click()
    await users.get_by_role("button", name="Execute").click()
    live = users.locator(".live-responses-table tbody .response-col_status")
    await expect(live.first).to_have_text("401")
    await expect(users.locator(".live-responses-table")).to_contain_text("not-authenticated")
    await tab.shot("02-try-it-out", full_page=False)

    # Everything came from kefu itself: no CDN, no validator badge.
    foreign = [url for url in tab.requests if not url.startswith((tab.base, "data:", "blob:"))]
    assert not foreign, foreign
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in url for url in tab.requests)
    await tab.assert_clean(allow_status_of=["/api/v1/users"])
