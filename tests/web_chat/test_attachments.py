"""Visitor uploads: the kind is judged from the bytes; files are served only to their chat."""

from __future__ import annotations

import struct
import zlib

import httpx
import pytest

from kefu.accounts.access import Role
from kefu.conversations import MAX_ATTACHMENT_BYTES, Author, add_attachment, post_message, store_upload
from kefu.platform.kernel import Kernel
from tests.factories import Factory
from tests.web_chat.support import auth, make_widget, session_of, start


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


async def _chat(client: httpx.AsyncClient, kernel: Kernel) -> tuple[str, int]:
    widget = await make_widget(kernel)
    token = (await session_of(client, widget))["token"]
    return token, (await start(client, token, None))["conversation"]["id"]


async def test_an_image_is_accepted_sent_and_previewable(client: httpx.AsyncClient, kernel: Kernel) -> None:
    token, conversation_id = await _chat(client, kernel)
    base = f"/api/v1/widget/conversations/{conversation_id}"
    uploaded = await client.post(
        f"{base}/attachments",
        files={"file": ("照片.jpg", png(), "application/octet-stream")},
        headers=auth(token),
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert attachment["content_type"] == "image/png"  # from the bytes, not the name or header
    assert attachment["filename"] == "照片.png"
    assert attachment["is_image"] is True
    sent = await client.post(
        f"{base}/messages",
        json={"client_id": "with-file", "body": "", "attachment_ids": [attachment["id"]]},
        headers=auth(token),
    )
    assert sent.status_code == 201, sent.text
    listed = sent.json()["message"]["attachments"]
    assert [a["id"] for a in listed] == [attachment["id"]]
    # A retry (the answer was lost) gets the same message and its file, not "already sent".
    again = await client.post(
        f"{base}/messages",
        json={"client_id": "with-file", "body": "", "attachment_ids": [attachment["id"]]},
        headers=auth(token),
    )
    assert again.status_code == 201, again.text
    assert again.json()["created"] is False
    assert again.json()["message"]["id"] == sent.json()["message"]["id"]
    assert [a["id"] for a in again.json()["message"]["attachments"]] == [attachment["id"]]
    # An <img> cannot send headers: the signed link alone is enough, and only for this file.
    image = await client.get(listed[0]["url"])
    assert image.status_code == 200
    assert image.content == png()
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert image.headers["content-security-policy"] == "sandbox"
    assert image.headers["x-content-type-options"] == "nosniff"
    by_header = await client.get(f"/api/v1/widget/attachments/{attachment['id']}", headers=auth(token))
    assert by_header.status_code == 200
    assert (await client.get(f"/api/v1/widget/attachments/{attachment['id']}")).status_code == 401
    sig = listed[0]["url"].split("sig=")[1]
    other_file = await client.get(f"/api/v1/widget/attachments/{attachment['id'] + 1}?sig={sig}")
    assert other_file.status_code == 401
    tampered = await client.get(f"/api/v1/widget/attachments/{attachment['id']}?sig={sig[:-3]}abc")
    assert tampered.status_code == 401


async def test_other_files_download_as_attachments(client: httpx.AsyncClient, kernel: Kernel) -> None:
    token, conversation_id = await _chat(client, kernel)
    uploaded = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        files={"file": ("notes.txt", "订单 123".encode(), "text/plain")},
        headers=auth(token),
    )
    assert uploaded.status_code == 201
    response = await client.get(uploaded.json()["url"])
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (
            "photo.png",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200,
        ),  # a Windows program
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'),
        ("page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("x.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 100),
        ("empty.png", b""),
    ],
)
async def test_disguised_and_dangerous_files_are_refused(
    client: httpx.AsyncClient, kernel: Kernel, name: str, data: bytes
) -> None:
    token, conversation_id = await _chat(client, kernel)
    response = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        files={"file": (name, data, "image/png")},
        headers=auth(token),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "file"


async def test_an_oversized_file_is_refused_with_a_problem(client: httpx.AsyncClient, kernel: Kernel) -> None:
    token, conversation_id = await _chat(client, kernel)
    response = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        files={"file": ("big.png", png() + b"\x00" * MAX_ATTACHMENT_BYTES, "image/png")},
        headers=auth(token),
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_visitor_cannot_fetch_others_files_or_files_of_notes(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    alice, conversation_id = await _chat(client, kernel)
    uploaded = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        files={"file": ("a.png", png(), "image/png")},
        headers=auth(alice),
    )
    attachment_id = uploaded.json()["id"]
    bob, _ = await _chat(client, kernel)
    refused = await client.get(f"/api/v1/widget/attachments/{attachment_id}", headers=auth(bob))
    assert refused.status_code == 404
    # Bob cannot send Alice's upload in his own chat either.
    bob_chat = (await client.get("/api/v1/widget/conversations", headers=auth(bob))).json()["items"][0]["id"]
    stolen = await client.post(
        f"/api/v1/widget/conversations/{bob_chat}/messages",
        json={"client_id": "steal", "body": "", "attachment_ids": [attachment_id]},
        headers=auth(bob),
    )
    assert stolen.status_code == 422
    # A file an agent attached to an internal note stays internal.
    stored = store_upload(kernel.settings.data_dir, "internal.png", png())
    async with kernel.db.transaction() as session:
        note_file = await add_attachment(
            session,
            conversation_id=conversation_id,
            uploader=Author.agent(agent.id, agent.name),
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
            storage_key=stored.storage_key,
        )
        await post_message(
            session,
            conversation_id,
            author=Author.agent(agent.id, agent.name),
            body="内部截图",
            is_note=True,
            attachment_ids=[note_file.id],
        )
    hidden = await client.get(f"/api/v1/widget/attachments/{note_file.id}", headers=auth(alice))
    assert hidden.status_code == 404
