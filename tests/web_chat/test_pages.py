"""The embed script, the chat frame, the demo page, and the admin pages."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from markupsafe import escape

from kefu.accounts.access import Role
from kefu.channels.web_chat.models import Widget
from kefu.platform.kernel import Kernel
from tests.accounts.test_xss import DANGEROUS
from tests.factories import Factory, post_form
from tests.web_chat.support import make_widget

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "\"'></script><script>alert(1)</script>",
]


def _form(widget: Widget, **changes: str) -> dict[str, str]:
    values = {
        "name": widget.name,
        "title": widget.title,
        "color": widget.color,
        "position": widget.position,
        "locale": widget.locale,
        "welcome_message": "",
        "away_message": "",
        "offline_message": "",
        "prechat_fields": "",
        "allowed_origins": "",
        "is_active": "1",
    }
    values.update(changes)
    return values


async def test_the_loader_script_is_served_as_javascript(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age" in response.headers["cache-control"]
    assert "data-kefu-widget" in response.text


async def test_the_frame_may_be_framed_only_by_the_widgets_sites(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    anywhere = await make_widget(kernel)
    response = await client.get(f"/widget/{anywhere.key}")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors *" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    limited = await make_widget(kernel, name="Shop", allowed_origins=["https://shop.example.com"])
    policy = (await client.get(f"/widget/{limited.key}")).headers["content-security-policy"]
    assert policy.endswith("frame-ancestors 'self' https://shop.example.com")
    assert (await client.get("/widget/nope")).status_code == 404
    off = await make_widget(kernel, name="Off", is_active=False)
    assert (await client.get(f"/widget/{off.key}")).status_code == 404


async def test_the_frame_speaks_the_widgets_language(client: httpx.AsyncClient, kernel: Kernel) -> None:
    chinese = await make_widget(kernel, locale="zh_CN")
    page = (await client.get(f"/widget/{chinese.key}", headers={"Accept-Language": "en"})).text
    assert '<html lang="zh-CN">' in page
    auto = await make_widget(kernel, name="Auto")
    page = (await client.get(f"/widget/{auto.key}", headers={"Accept-Language": "en-US"})).text
    assert '<html lang="en">' in page
    strings = json.loads(re.search(r'id="kf-strings">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]  # the block is there
    assert strings["read"] == "Read"


@pytest.mark.parametrize("payload", XSS)
async def test_widget_texts_are_escaped_in_the_frame(
    client: httpx.AsyncClient, kernel: Kernel, payload: str
) -> None:
    fields = [{"name": "topic", "label": payload, "type": "select", "required": True, "options": [payload]}]
    widget = await make_widget(
        kernel, title=payload[:60], offline_message=payload, prechat_enabled=True, prechat_fields=fields
    )
    page = (await client.get(f"/widget/{widget.key}")).text
    for bad in [*DANGEROUS, "</script><script>"]:
        assert bad not in page, bad
    assert str(escape(payload[:60])) in page
    config = json.loads(re.search(r'id="kf-config">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]  # the block is there
    assert config["title"] == payload[:60]


async def test_the_demo_page_embeds_the_widget(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel)
    page = (await client.get(f"/widget/{widget.key}/demo")).text
    assert '<script src="/widget.js?v=' in page
    assert f'data-kefu-widget="{widget.key}"' in page


async def test_admins_create_and_edit_widgets(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    assert (await client.get("/admin/web-chat")).status_code == 200
    created = await post_form(
        client, "/admin/web-chat", {"name": "官网", "title": "在线客服", "queue_id": ""}
    )
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    page = (await client.get(location)).text
    async with kernel.db.reader() as session:
        from kefu.channels.web_chat import list_widgets

        widget = (await list_widgets(session))[0]
    snippet = str(
        escape(f'<script src="{kernel.settings.public_url}/widget.js" data-kefu-widget="{widget.key}" async>')
    )
    assert snippet in page
    assert widget.identity_secret in page
    assert [f["name"] for f in widget.prechat_fields] == ["name", "email"]
    changes = _form(
        widget,
        color="#AA3300",
        position="left",
        prechat_enabled="1",
        prechat_fields="name | 称呼 | text | required\ntopic | 问题类型 | select | optional | 订单, 售后",
        allowed_origins="https://shop.example.com/\nhttp://localhost:8080",
        welcome_message="欢迎！",
    )
    saved = await post_form(client, location, changes)
    assert saved.status_code == 303, saved.text
    async with kernel.db.reader() as session:
        from kefu.channels.web_chat import get_widget

        widget = await get_widget(session, widget.id)
    assert widget.color == "#aa3300"
    assert widget.position == "left"
    assert widget.allowed_origins == ["https://shop.example.com", "http://localhost:8080"]
    assert widget.prechat_fields[1] == {
        "name": "topic",
        "label": "问题类型",
        "type": "select",
        "required": False,
        "options": ["订单", "售后"],
    }
    assert widget.welcome_message == "欢迎！"
    old_secret = widget.identity_secret
    rotated = await post_form(client, f"{location}/rotate-secret", {})
    assert rotated.status_code == 303
    async with kernel.db.reader() as session:
        assert (await get_widget(session, widget.id)).identity_secret != old_secret


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"title": "x" * 61}, "title"),
        ({"color": "red"}, "color"),
        ({"color": "#12345g"}, "color"),
        ({"position": "top"}, "position"),
        ({"locale": "fr"}, "locale"),
        ({"allowed_origins": "javascript:alert(1)"}, "allowed_origins"),
        ({"allowed_origins": "https://shop.example.com/path"}, "allowed_origins"),
        ({"allowed_origins": "https://a b.com"}, "allowed_origins"),
        ({"prechat_fields": "Bad Name | x | text"}, "prechat_fields"),
        ({"prechat_fields": "topic | x | radio"}, "prechat_fields"),
        ({"prechat_fields": "topic | x | select"}, "prechat_fields"),
        ({"prechat_fields": "a | x\na | y"}, "prechat_fields"),
        ({"prechat_fields": "a |  "}, "prechat_fields"),
        ({"welcome_message": "x" * 1001}, "welcome_message"),
        ({"away_message": "bad\x01char"}, "away_message"),
        ({"queue_id": "999999"}, "queue_id"),
        ({"calendar_id": "999999"}, "calendar_id"),
    ],
)
async def test_bad_settings_are_form_errors(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory, changes: dict[str, str], field: str
) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    widget = await make_widget(kernel)
    response = await post_form(client, f"/admin/web-chat/{widget.id}", _form(widget, **changes))
    assert response.status_code == 422, response.text
    assert f'id="{field}-error"' in response.text


@pytest.mark.parametrize("payload", XSS)
async def test_names_and_texts_are_escaped_on_admin_pages(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory, payload: str
) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    widget = await make_widget(kernel, name=payload, title=payload[:60], welcome_message=payload)
    for path in ("/admin/web-chat", f"/admin/web-chat/{widget.id}", f"/widget/{widget.key}/demo"):
        page = (await client.get(path)).text
        for bad in DANGEROUS:
            assert bad not in page, (path, bad)
        assert str(escape(payload)) in page, path


async def test_only_channel_managers_see_the_admin_pages(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    widget = await make_widget(kernel)
    assert (await client.get("/admin/web-chat")).status_code == 303  # to the login page
    agent = await factory.user(Role.agent)
    await factory.login(client, agent)
    for path in ("/admin/web-chat", f"/admin/web-chat/{widget.id}"):
        assert (await client.get(path)).status_code == 403
    refused = await post_form(client, f"/admin/web-chat/{widget.id}/rotate-secret", {})
    assert refused.status_code == 403
    assert (await client.get("/admin/web-chat/0")).status_code == 403


async def test_creating_without_a_name_is_a_form_error(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    admin = await factory.user(Role.admin)
    await factory.login(client, admin)
    response = await post_form(client, "/admin/web-chat", {"name": "  ", "title": "", "queue_id": "abc"})
    assert response.status_code == 422
    assert 'id="name-error"' in response.text
