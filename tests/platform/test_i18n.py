"""The UI speaks Simplified Chinese first and English too; no UI string lacks a translation."""

from __future__ import annotations

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.platform import i18n
from kefu.platform.i18n_catalog import extract, load, placeholders, untranslated
from tests.factories import Factory, post_form


def test_every_ui_string_has_a_chinese_translation() -> None:
    missing = untranslated("zh_CN")
    assert missing == [], (
        "untranslated UI strings; run `python -m kefu.platform.i18n_catalog update` and translate them in "
        f"src/kefu/locale/zh_CN/LC_MESSAGES/messages.po: {missing}"
    )


def test_the_extraction_finds_strings_in_code_templates_errors_and_flash_messages() -> None:
    found = {m.id for m in extract()}
    assert "Log in" in found  # a template
    assert "Wrong email or password." in found  # a domain error in a service
    assert "The settings were saved." in found  # a flash message (message="...")
    assert "Administrator" in found  # an N_() label


def test_translations_keep_their_placeholders() -> None:
    catalog = load("zh_CN")
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.string:
            assert placeholders(message.id) == placeholders(str(message.string)), message.id


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Accept-Language": "zh-CN,zh;q=0.9"}, "登录"),
        ({"Accept-Language": "en-US"}, "Log in"),
        ({"Accept-Language": "en", "Cookie": "kefu_lang=zh_CN"}, "登录"),
    ],
)
async def test_the_language_follows_the_choice_then_the_browser(
    client: httpx.AsyncClient, headers: dict[str, str], expected: str
) -> None:
    response = await client.get("/login", headers=headers)
    assert f">{expected}</button>" in response.text


async def test_switching_language_is_remembered_for_the_user(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    user = await factory.user(Role.agent)
    await factory.login(client, user)
    response = await post_form(client, "/lang", {"locale": "zh_CN", "next": "/account"})
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    page = await client.get("/account")
    assert "我的账号" in page.text
    assert 'lang="zh-CN"' in page.text
    other_browser = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await factory.login(other_browser, user)  # the preference travels with the user
    assert "我的账号" in (await other_browser.get("/account", headers={"Accept-Language": "en"})).text
    await other_browser.aclose()


async def test_an_unknown_language_is_refused(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/lang", {"locale": "xx"})
    assert response.status_code == 422


def test_accept_language_negotiation() -> None:
    assert i18n.negotiate("fr-FR,en;q=0.5", "zh_CN") == "en"
    assert i18n.negotiate("zh-TW", "en") == "zh_CN"
    assert i18n.negotiate("de", "zh_CN") == "zh_CN"
    assert i18n.negotiate("en;q=bogus, zh", "en") == "zh_CN"
    assert i18n.negotiate(None, "en") == "en"
