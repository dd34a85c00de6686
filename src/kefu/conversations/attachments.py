"""Attachment files: what kind a file really is (sniffed from its bytes) and where it is stored.

The declared name and content type of an upload are never trusted: the type comes from the
file's magic bytes, and only the kinds below are accepted. SVG and HTML are refused outright
(they can carry script); text is accepted only when it decodes as UTF-8 without control bytes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import filetype  # type: ignore[import-untyped]  # the package ships no type hints
from starlette.responses import FileResponse

from kefu.conversations.models import Attachment
from kefu.platform.errors import InvalidInput, NotFound, TooLarge

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENTS_DIR = "attachments"

# Sniffed MIME type → the extension we store and show.
ALLOWED_TYPES: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/plain": "txt",
}
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True)
class StoredFile:
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str


def sniff(data: bytes) -> str | None:
    """The MIME type of ``data`` judged by its content, or None when it is not an accepted kind."""
    kind = filetype.guess(data)
    if kind is not None:
        return kind.mime if kind.mime in ALLOWED_TYPES else None
    head = data[:4096].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype", b"<html", b"<script")):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in text):
        return None
    return "text/plain"


def safe_filename(name: str, content_type: str) -> str:
    """A display name without paths or control characters, with the extension of its real type."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{(stem or 'file')[:150]}.{ALLOWED_TYPES[content_type]}"


def attachment_path(data_dir: Path, storage_key: str) -> Path:
    if not storage_key.isalnum():
        raise InvalidInput("Bad storage key.")
    return data_dir / ATTACHMENTS_DIR / storage_key[:2] / storage_key


def store_upload(data_dir: Path, filename: str, data: bytes) -> StoredFile:
    """Check and save an upload; raises InvalidInput (wrong kind) or TooLarge (too big)."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise TooLarge(
            "A file may be at most %(mb)s MB.", params={"mb": MAX_ATTACHMENT_BYTES // (1024 * 1024)}
        )
    if not data:
        raise InvalidInput("The file is empty.", field="file")
    content_type = sniff(data)
    if content_type is None:
        raise InvalidInput(
            "This kind of file is not accepted. Send images (PNG, JPEG, GIF, WebP), PDF, text, "
            "Word, Excel or ZIP files.",
            field="file",
        )
    key = secrets.token_hex(16)
    path = attachment_path(data_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return StoredFile(
        filename=safe_filename(filename, content_type),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
    )


def attachment_response(data_dir: Path, attachment: Attachment, *, cache_seconds: int) -> FileResponse:
    """The stored file: images inline, anything else as a download, never able to run script."""
    path = attachment_path(data_dir, attachment.storage_key)
    if not path.is_file():
        raise NotFound("The file of this attachment is missing.")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.filename,
        content_disposition_type="inline" if attachment.content_type in IMAGE_TYPES else "attachment",
        # Even a file that slipped past sniffing cannot run script as this origin.
        headers={
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": f"private, max-age={cache_seconds}",
        },
    )
