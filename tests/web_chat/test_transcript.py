"""Transcript by email: a visitor asks, a real SMTP server (aiosmtpd) gets the mail — every public
message up to the request in order, edited ones as they read now, attachments by name, never an
internal note, Chinese intact — and the agents see that it was sent. Only one's own chats; bad
addresses, a server without mail, and too many requests are refused with problem details."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.admin import service as admin_service
from kefu.app import create_app
from kefu.channels.web_chat.models import Widget
from kefu.channels.web_chat.transcript import PER_CONVERSATION, PER_RECIPIENT
from kefu.conversations import Author, get_conversation, messages_after, post_message, revise_message
from kefu.platform.audit import Actor
from kefu.platform.kernel import Kernel
from kefu.settings import Settings
from tests.conftest import make_settings
from tests.factories import Factory
from tests.platform.test_mail import SENDER, Received, SmtpSink
from tests.web_chat.support import auth, make_widget, new_id, session_of, start
from tests.web_chat.test_attachments import png

ADDRESS = "li.lei@example.com"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    """The app of these tests sends its mail to the aiosmtpd server above."""
    return make_settings(
        tmp_path / "data", db_url, smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from=SENDER
    )


async def workspace(kernel: Kernel, *, name: str = "星辰家电", timezone: str = "America/New_York") -> None:
    async with kernel.db.transaction() as session:
        await admin_service.update_workspace_settings(
            session, Actor.system("test"), name=name, timezone=timezone
        )


async def ask(
    client: httpx.AsyncClient, token: str, conversation_id: int, email: str = ADDRESS, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/transcript",
        json={"email": email, **extra},
        headers=auth(token),
    )


async def deliver(kernel: Kernel, smtp: SmtpSink, count: int = 1) -> list[Received]:
    await kernel.runner.run_pending()
    return await smtp.wait(count)


async def chat(client: httpx.AsyncClient, widget: Widget, first: str = "你好") -> tuple[str, int]:
    token = (await session_of(client, widget))["token"]
    started = await start(client, token, first)
    return token, int(started["conversation"]["id"])


# -- the mail ---------------------------------------------------------------------------------------
async def test_the_visitor_gets_every_public_message_in_order_and_never_a_note(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory, smtp: SmtpSink
) -> None:
    await workspace(kernel)
    widget = await make_widget(kernel, title="星辰客服", welcome_message="您好，欢迎咨询星辰家电！")
    session = await session_of(client, widget)
    assert session["transcript_by_email"] is True
    token = session["token"]
    conversation_id = int((await start(client, token, "我想退货，订单号 2026"))["conversation"]["id"])
    agent = await factory.user(Role.agent, name="张三")
    async with kernel.db.transaction() as db:
        await post_message(
            db,
            conversation_id,
            author=Author.agent(agent.id, "张三"),
            body="内部备注：VIP 客户，优先处理",
            is_note=True,
        )
        reply = await post_message(db, conversation_id, author=Author.agent(agent.id, "张三"), body="请稍等")
    async with kernel.db.transaction() as db:
        await revise_message(
            db, reply.message.id, author=Author.agent(agent.id, "张三"), body="好的，正在为您查询"
        )
    upload = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        files={"file": ("发票.png", png(), "image/png")},
        headers=auth(token),
    )
    assert upload.status_code == 201, upload.text
    sent = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": new_id(), "body": "这是发票", "attachment_ids": [upload.json()["id"]]},
        headers=auth(token),
    )
    assert sent.status_code == 201, sent.text

    answer = await ask(client, token, conversation_id, email="  Li.Lei@Example.COM ", locale="zh_CN")
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"email": "Li.Lei@example.com", "status": "queued"}
    # Written after the request: not part of this transcript.
    later = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": new_id(), "body": "请求之后的消息"},
        headers=auth(token),
    )
    assert later.status_code == 201

    [got] = await deliver(kernel, smtp)
    number = f"KF-{10000 + conversation_id}"
    assert got.rcpt_tos == ["Li.Lei@example.com"]
    message = got.message()
    assert message["Subject"] == f"聊天记录 {number} — 星辰家电"
    text = got.text()
    async with kernel.db.reader() as db:
        views = await messages_after(db, conversation_id, include_notes=False)
    times = [v.created_at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M") for v in views]
    expected = [
        f"[{times[0]}] 星辰客服：\n您好，欢迎咨询星辰家电！",
        f"[{times[1]}] 您：\n我想退货，订单号 2026",
        f"[{times[2]}] 张三：\n好的，正在为您查询 (已编辑)",
        f"[{times[3]}] 您：\n这是发票\n附件：发票.png",
    ]
    positions = [text.find(block) for block in expected]
    assert all(p >= 0 for p in positions), text
    assert positions == sorted(positions), text
    assert "America/New_York" in text
    for secret in ("内部备注", "VIP", "请稍等", "请求之后的消息"):  # the note, the old text, a later message
        assert secret not in text
        assert secret not in got.html()
        assert secret.encode() not in got.data
    html = got.html()
    assert "星辰客服" in html
    assert "&lt;" not in text  # plain text stays plain
    assert "附件：发票.png" in text
    assert "📎 发票.png" in html

    # The agents see that the transcript went out, in the conversation's history.
    await factory.login(client, agent)
    history = (await client.get(f"/api/v1/conversations/{conversation_id}/messages")).json()
    [line] = [m for m in history if m["kind"] == "transcript"]
    assert line["author_kind"] == "system"
    assert line["body"] == "Transcript emailed to Li.Lei@example.com"
    assert line["seq"] == views[3].seq + 1  # right after the last message the mail holds


async def test_english_for_an_english_widget_and_html_escaped(
    client: httpx.AsyncClient, kernel: Kernel, smtp: SmtpSink
) -> None:
    await workspace(kernel, name="Star Appliances", timezone="UTC")
    widget = await make_widget(kernel, locale="en")
    token, conversation_id = await chat(client, widget, "<script>alert(1)</script> & <b>bold</b>")
    answer = await ask(client, token, conversation_id)
    assert answer.status_code == 202, answer.text
    [got] = await deliver(kernel, smtp)
    assert got.message()["Subject"] == f"Chat transcript KF-{10000 + conversation_id} — Star Appliances"
    text = got.text()
    assert re.search(r"\[\d{4}-\d\d-\d\d \d\d:\d\d\] You:\n<script>alert\(1\)</script> & <b>bold</b>\n", text)
    html = got.html()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script>" not in html
    assert "<b>bold" not in html


async def test_the_browser_language_is_used_when_the_widget_has_none(
    client: httpx.AsyncClient, kernel: Kernel, smtp: SmtpSink
) -> None:
    widget = await make_widget(kernel)  # locale "auto"
    token, conversation_id = await chat(client, widget)
    zh = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/transcript",
        json={"email": ADDRESS},
        headers={**auth(token), "Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert zh.status_code == 202
    [got] = await deliver(kernel, smtp)
    assert str(got.message()["Subject"]).startswith("聊天记录 KF-")


# -- refusals ---------------------------------------------------------------------------------------------
async def test_another_visitors_conversation_is_not_found(
    client: httpx.AsyncClient, kernel: Kernel, smtp: SmtpSink
) -> None:
    widget = await make_widget(kernel)
    _, theirs = await chat(client, widget, "别人的聊天")
    mine, _ = await chat(client, widget)
    other_widget = await make_widget(kernel, name="Other")
    elsewhere, _ = await chat(client, other_widget)
    for token, conversation_id in ((mine, theirs), (elsewhere, theirs), (mine, 999_999)):
        answer = await ask(client, token, conversation_id)
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    no_token = await client.post(f"/api/v1/widget/conversations/{theirs}/transcript", json={"email": ADDRESS})
    assert no_token.status_code == 401
    assert await kernel.runner.run_pending() == 0
    assert smtp.received == []


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "li.lei@example.com\r\nBcc: victim@example.com",
        "Li <li@example.com>",
        "",
        "a@b",
        "x" * 300,
    ],
)
async def test_a_bad_address_is_refused(
    client: httpx.AsyncClient, kernel: Kernel, smtp: SmtpSink, email: str
) -> None:
    widget = await make_widget(kernel)
    token, conversation_id = await chat(client, widget)
    answer = await ask(client, token, conversation_id, email=email)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert [e["field"].split(".")[-1] for e in problem["errors"]] == ["email"]
    assert await kernel.runner.run_pending() == 0
    async with kernel.db.reader() as db:
        assert (await get_conversation(db, conversation_id)).last_seq == 1  # no line was added


@pytest.fixture
async def mailless_client(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel]]:
    """The same database, served by an app whose server sends no mail (no KEFU_SMTP_HOST)."""
    app = create_app(make_settings(tmp_path / "data2", db_url), run_jobs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, app.state.kernel


async def test_a_server_without_mail_says_so(mailless_client: tuple[httpx.AsyncClient, Kernel]) -> None:
    client, kernel = mailless_client
    widget = await make_widget(kernel)
    session = await session_of(client, widget)
    assert session["transcript_by_email"] is False  # the widget does not offer it…
    started = await start(client, session["token"])
    answer = await ask(client, session["token"], started["conversation"]["id"])  # …and the API refuses it
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "not set up" in answer.json()["detail"]


async def test_too_many_requests_are_refused(
    client: httpx.AsyncClient, kernel: Kernel, smtp: SmtpSink
) -> None:
    widget = await make_widget(kernel)
    token, first = await chat(client, widget)
    for _ in range(PER_CONVERSATION):
        assert (await ask(client, token, first)).status_code == 202
    refused = await ask(client, token, first, email="other@example.com")
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert "this hour" in refused.json()["detail"]

    # Other chats may still ask, but one address gets only so many transcripts an hour.
    sent = PER_CONVERSATION
    while sent < PER_RECIPIENT:
        other_token, other = await chat(client, widget)
        assert (await ask(client, other_token, other)).status_code == 202
        sent += 1
    last_token, last = await chat(client, widget)
    flood = await ask(client, last_token, last)
    assert flood.status_code == 429, flood.text
    assert "this address" in flood.json()["detail"]
    assert (await ask(client, last_token, last, email="someone.else@example.com")).status_code == 202

    got = await deliver(kernel, smtp, PER_RECIPIENT + 1)
    assert sorted(r.rcpt_tos[0] for r in got) == sorted(
        [ADDRESS] * PER_RECIPIENT + ["someone.else@example.com"]
    )
