"""Request security: signed values, CSRF protection, security headers, body size limit.

CSRF: every browser gets a random ``kefu_csrf`` cookie (HttpOnly). Forms carry
``HMAC(secret, cookie)`` in a hidden ``csrf_token`` field (or htmx sends it as the
``X-CSRF-Token`` header). A state-changing request that authenticates with a cookie must
present it; one that carries an ``Authorization`` header uses no ambient credentials and
is exempt. The check runs in middleware, so no route can forget it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.platform.errors import CsrfFailed, DomainError, TooLarge

ErrorResponder = Callable[[DomainError, Scope, Receive, Send], Awaitable[None]]

CSRF_COOKIE = "kefu_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class Signer:
    """HMAC-signed, URL-safe values (flash messages, CSRF tokens)."""

    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()

    def digest(self, value: str) -> str:
        mac = hmac.new(self._key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign(self, data: Any) -> str:
        body = (
            base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()
        )
        return f"{body}.{self.digest(body)}"

    def unsign(self, token: str) -> Any | None:
        if not token.isascii():  # compare_digest refuses non-ASCII str; such a token is forged anyway
            return None
        body, _, mac = token.rpartition(".")
        if not body or not hmac.compare_digest(mac, self.digest(body)):
            return None
        try:
            return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None


def cookie_header(scope: Scope) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112  # a malformed cookie header is ignored like a missing one
                continue
    return jar


def csrf_token_for(request: Request, signer: Signer) -> str:
    """The token forms of this page must send back (the cookie may be new, set on the response)."""
    seed: str = request.scope.get("state", {}).get("csrf_seed", "")
    return signer.digest(seed)


class CSRFMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        signer: Signer,
        secure: bool,
        exempt: Callable[[str], bool] = lambda path: False,
        respond_error: ErrorResponder,
        credential_cookies: frozenset[str] = frozenset(),
        api_prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.credential_cookies = credential_cookies
        self.api_prefix = api_prefix
        self.signer = signer
        self.secure = secure
        self.exempt = exempt
        self.respond_error = respond_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        jar = cookie_header(scope)
        seed = jar[CSRF_COOKIE].value if CSRF_COOKIE in jar else ""
        fresh = not seed
        if fresh:
            seed = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_seed"] = seed

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                current = scope.get("state", {}).get("csrf_seed", seed)
                MutableHeaders(scope=message).append("set-cookie", csrf_cookie(current, secure=self.secure))
            await send(message)

        # A browser without the cookie gets one with whatever answer it receives, the
        # "security check failed" page included, so that page's own forms work.
        sender = send_with_cookie if fresh else send
        method = scope["method"]
        headers = dict(scope.get("headers", []))
        if method not in SAFE_METHODS and self._needs_check(scope["path"], headers, jar):
            try:
                body = await _read_body(receive)
            except TooLarge as exc:
                await self.respond_error(exc, scope, _replay(b""), sender)
                return
            submitted = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1") or _form_token(headers, body)
            expected = self.signer.digest(seed)
            if fresh or not submitted or not hmac.compare_digest(submitted, expected):
                error = CsrfFailed(
                    "The form has expired or came from another site. Reload the page and try again."
                )
                await self.respond_error(error, scope, _replay(body), sender)
                return
            receive = _replay(body)

        await self.app(scope, receive, sender)

    def _needs_check(self, path: str, headers: dict[bytes, bytes], jar: SimpleCookie) -> bool:
        if b"authorization" in headers or self.exempt(path):
            return False  # a token in a header is no ambient credential a forged request could ride on
        if path.startswith(self.api_prefix):
            # An API call without the login cookie acts for nobody: authentication answers it.
            return any(name in jar for name in self.credential_cookies)
        return True  # every HTML form, login included (login CSRF)


def csrf_cookie(seed: str, *, secure: bool) -> str:
    parts = [f"{CSRF_COOKIE}={seed}", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=31536000"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def rotate_csrf(request: Request, headers: MutableHeaders, *, secure: bool) -> None:
    """Give the browser a new CSRF seed (after login), so a planted one is worthless."""
    seed = secrets.token_urlsafe(32)
    request.scope.setdefault("state", {})["csrf_seed"] = seed
    headers.append("set-cookie", csrf_cookie(seed, secure=secure))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _form_token(headers: dict[bytes, bytes], body: bytes) -> str:
    content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD, [])
        return values[0] if values else ""
    if content_type.startswith("multipart/form-data"):
        # The token is a short field placed first in every kefu form; find it without a full parse.
        marker = b'name="' + CSRF_FIELD.encode() + b'"'
        at = body.find(marker)
        if at < 0:
            return ""
        start = body.find(b"\r\n\r\n", at)
        end = body.find(b"\r\n", start + 4) if start >= 0 else -1
        return body[start + 4 : end].decode("latin-1").strip() if end > 0 else ""
    return ""


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # Only a page that set its own frame-ancestors (the chat widget frame) may be framed.
                own_policy = headers.get("content-security-policy", "")
                if "frame-ancestors" not in own_policy or "frame-ancestors 'none'" in own_policy:
                    headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("content-security-policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault("cross-origin-opener-policy", "same-origin")
                headers.setdefault("permissions-policy", "camera=(), geolocation=(), payment=()")
                if self.https:
                    headers.setdefault("strict-transport-security", "max-age=31536000; includeSubDomains")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuses bodies over the limit before a route (or the CSRF check) buffers them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, respond_error: ErrorResponder) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.respond_error = respond_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self.respond_error(TooLarge("The request body is too large."), scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge("The request body is too large.")
            return message

        await self.app(scope, limited, send)
