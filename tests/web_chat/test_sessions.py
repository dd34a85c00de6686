"""Visitor sessions: anonymous and identified visitors, and tokens that must not work."""

from __future__ import annotations

import httpx

from kefu.channels.web_chat import user_hash
from kefu.channels.web_chat.visitors import VisitorPrincipal, issue_token, read_token
from kefu.platform.kernel import Kernel
from tests.web_chat.support import auth, make_widget, session_of, start


async def test_an_anonymous_visitor_gets_a_token_and_keeps_their_identity(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel, title="在线客服", welcome_message="您好")
    first = await session_of(client, widget)
    assert first["widget"]["look"]["title"] == "在线客服"
    assert first["widget"]["texts"]["welcome"] == "您好"
    assert "identity_secret" not in str(first["widget"])
    assert first["conversation"] is None
    visitor = read_token(kernel.settings, first["token"])
    assert visitor is not None
    assert visitor.kind == "web_visitor"
    assert visitor.identity.startswith(f"{widget.id}:")
    again = await session_of(client, widget, visitor_token=first["token"])
    assert again["contact_id"] == first["contact_id"]
    stranger = await session_of(client, widget)
    assert stranger["contact_id"] != first["contact_id"]


async def test_the_session_names_the_open_conversation(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    started = await start(client, token)
    resumed = await session_of(client, widget, visitor_token=token)
    assert resumed["conversation"]["id"] == started["conversation"]["id"]
    assert resumed["conversation"]["last_seq"] == 1


async def test_an_identified_visitor_is_the_same_contact_everywhere(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel)
    proof = user_hash(widget.identity_secret, "u-42")
    phone = await session_of(client, widget, user_id="u-42", user_hash=proof, name="张三")
    laptop = await session_of(client, widget, user_id="u-42", user_hash=proof.upper())
    assert phone["contact_id"] == laptop["contact_id"]
    visitor = read_token(kernel.settings, phone["token"])
    assert visitor is not None
    assert visitor.identified
    assert visitor.identity == "u-42"


async def test_a_wrong_user_hash_is_refused(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel)
    other = await make_widget(kernel, name="Other")
    for bad in (
        "",
        "0" * 64,
        user_hash(widget.identity_secret, "u-43"),
        user_hash(other.identity_secret, "u-42"),
    ):
        response = await client.post(
            f"/api/v1/widget/{widget.key}/session", json={"user_id": "u-42", "user_hash": bad}
        )
        assert response.status_code == 403, bad
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_kept_identified_token_is_not_reused_without_a_fresh_hash(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel)
    proof = user_hash(widget.identity_secret, "u-7")
    signed_in = await session_of(client, widget, user_id="u-7", user_hash=proof)
    # The user signed out of the host site; the next person at this computer is someone else.
    after = await session_of(client, widget, visitor_token=signed_in["token"])
    assert after["contact_id"] != signed_in["contact_id"]


async def test_widgets_that_require_identity_refuse_anonymous_visitors(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel, require_identity=True)
    response = await client.post(f"/api/v1/widget/{widget.key}/session", json={})
    assert response.status_code == 403
    proof = user_hash(widget.identity_secret, "vip-1")
    ok = await client.post(
        f"/api/v1/widget/{widget.key}/session", json={"user_id": "vip-1", "user_hash": proof}
    )
    assert ok.status_code == 200
    # A token minted for an anonymous visitor (before the switch) cannot start chats either.
    anonymous = issue_token(kernel.settings, VisitorPrincipal(widget.id, 99, f"{widget.id}:x"))
    refused = await client.post("/api/v1/widget/conversations", json={}, headers=auth(anonymous))
    assert refused.status_code == 403


async def test_forged_and_tampered_tokens_are_refused(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    body, _, mac = token.rpartition(".")
    forged_body = issue_token(kernel.settings, VisitorPrincipal(widget.id, 12345, "x")).split(".")[0]
    for bad in (f"{forged_body}.{mac}", f"{body}.{mac[:-2]}xx", "nonsense", f"{body}."):
        listed = await client.get("/api/v1/widget/conversations", headers=auth(bad))
        assert listed.status_code == 401, bad
        assert listed.json()["code"] == "not-authenticated"
        refreshed = await client.post(f"/api/v1/widget/{widget.key}/session", json={"visitor_token": bad})
        assert refreshed.status_code == 401
    assert (await client.get("/api/v1/widget/conversations")).status_code == 401
    bearer = await client.get("/api/v1/widget/conversations", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401


async def test_an_expired_token_is_refused(kernel: Kernel) -> None:
    token = issue_token(kernel.settings, VisitorPrincipal(1, 1, "1:a"), now=0)
    assert read_token(kernel.settings, token) is None
    assert (
        read_token(kernel.settings, issue_token(kernel.settings, VisitorPrincipal(1, 1, "1:a"))) is not None
    )


async def test_a_token_of_one_widget_is_refused_by_another(client: httpx.AsyncClient, kernel: Kernel) -> None:
    shop = await make_widget(kernel, name="Shop")
    blog = await make_widget(kernel, name="Blog")
    token = (await session_of(client, shop))["token"]
    conversation = (await start(client, token))["conversation"]
    response = await client.post(f"/api/v1/widget/{blog.key}/session", json={"visitor_token": token})
    assert response.status_code == 403
    # Conversations started through one widget are not visible through the other's tokens.
    blog_token = (await session_of(client, blog))["token"]
    seen = await client.get(
        f"/api/v1/widget/conversations/{conversation['id']}/messages", headers=auth(blog_token)
    )
    assert seen.status_code == 404


async def test_unknown_and_inactive_widgets_are_not_found(client: httpx.AsyncClient, kernel: Kernel) -> None:
    widget = await make_widget(kernel, is_active=False)
    for key in (widget.key, "nope", "x" * 40, "..%2f"):
        response = await client.post(f"/api/v1/widget/{key}/session", json={})
        assert response.status_code == 404, key


async def test_non_ascii_tokens_and_links_are_refused_not_crashed(
    client: httpx.AsyncClient, kernel: Kernel
) -> None:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    body, _, _ = token.rpartition(".")
    assert (await client.get("/api/v1/widget/attachments/1", params={"sig": f"{body}.é"})).status_code == 401
    refreshed = await client.post(f"/api/v1/widget/{widget.key}/session", json={"visitor_token": f"{body}.é"})
    assert refreshed.status_code == 401
    assert read_token(kernel.settings, f"{body}.ü") is None
