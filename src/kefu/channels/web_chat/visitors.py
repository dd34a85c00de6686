"""Visitor identity: who is on the other end of a widget socket or request.

A visitor token is a value signed with the process secret (purpose ``visitor``) that names
one widget and one contact identity. It carries no cookie: the widget frame keeps it in its
own storage and sends it as ``Authorization: Visitor <token>`` (REST) or as the
``visitor_token`` query parameter (WebSocket). Anonymous visitors get a random identity
(``web_visitor`` = ``"{widget_id}:{uuid}"``); a host site proves its signed-in users with
``userHash = hex(HMAC-SHA256(identity_secret, userId))`` (``external_id`` = userId).

Images in the chat are shown with ``<img>``, which cannot send headers, so attachment URLs
carry a short-lived signature (``?sig=``) instead.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Annotated, Any, TypeGuard

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from starlette.websockets import WebSocket

from kefu.platform.errors import NotAuthenticated, PermissionDenied
from kefu.platform.kernel import get_kernel
from kefu.platform.realtime import Subscriber
from kefu.platform.security import Signer
from kefu.settings import Settings

ANONYMOUS = "web_visitor"
IDENTIFIED = "external_id"
TOKEN_MAX_AGE = 180 * 24 * 3600  # the frame refreshes its token on every visit
ATTACHMENT_LINK_SECONDS = 3600
MAX_USER_ID_CHARS = 100

visitor_header = APIKeyHeader(
    name="Authorization",
    scheme_name="visitorToken",
    description="`Visitor <token>`: the token `POST /api/v1/widget/{key}/session` returns.",
    auto_error=False,
)


@dataclass(frozen=True)
class VisitorPrincipal:
    """A widget visitor, proven by a signed visitor token: one contact of one widget."""

    widget_id: int
    contact_id: int
    identity: str  # the contact identity the token names (anonymous uuid or host-site user id)
    kind: str = ANONYMOUS

    @property
    def identified(self) -> bool:
        return self.kind == IDENTIFIED


def _signer(settings: Settings, purpose: str = "visitor") -> Signer:
    return Signer(settings.secret, purpose)


def issue_token(settings: Settings, visitor: VisitorPrincipal, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return _signer(settings).sign(
        {
            "w": visitor.widget_id,
            "c": visitor.contact_id,
            "k": visitor.kind,
            "i": visitor.identity,
            "t": issued,
        }
    )


def read_token(settings: Settings, token: str, *, now: float | None = None) -> VisitorPrincipal | None:
    """The visitor a token names, or None when it is forged, tampered with, malformed or too old."""
    if not token or len(token) > 2000 or not token.isascii():  # the signer compares ASCII only
        return None
    data: Any = _signer(settings).unsign(token)
    if not isinstance(data, dict):
        return None
    widget_id, contact_id, kind, identity, issued = (data.get(k) for k in ("w", "c", "k", "i", "t"))
    if not (_is_int(widget_id) and _is_int(contact_id) and _is_int(issued)):
        return None
    if kind not in {ANONYMOUS, IDENTIFIED} or not isinstance(identity, str):
        return None
    if (time.time() if now is None else now) - issued > TOKEN_MAX_AGE:
        return None
    return VisitorPrincipal(widget_id=widget_id, contact_id=contact_id, identity=identity, kind=kind)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the host site's server computes for a signed-in user (documented on the admin page)."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_user_hash(identity_secret: str, user_id: str, given: str | None) -> bool:
    if not given or not user_id:
        return False
    return hmac.compare_digest(user_hash(identity_secret, user_id), given.strip().lower())


# -- attachment links --------------------------------------------------------------------------


def attachment_sig(
    settings: Settings, attachment_id: int, contact_id: int, *, now: float | None = None
) -> str:
    expires = int(time.time() if now is None else now) + ATTACHMENT_LINK_SECONDS
    return _signer(settings, "visitor-attachment").sign({"a": attachment_id, "c": contact_id, "x": expires})


def read_attachment_sig(settings: Settings, sig: str, attachment_id: int) -> int | None:
    """The contact a link was made for, or None when it is forged, for another file or expired."""
    if len(sig) > 500 or not sig.isascii():
        return None
    data: Any = _signer(settings, "visitor-attachment").unsign(sig)
    if not isinstance(data, dict) or data.get("a") != attachment_id:
        return None
    contact_id, expires = data.get("c"), data.get("x")
    if not isinstance(contact_id, int) or not isinstance(expires, int) or expires < time.time():
        return None
    return contact_id


# -- authentication ---------------------------------------------------------------------------


def token_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "visitor" and token.strip() else None


async def current_visitor(
    request: Request, authorization: Annotated[str | None, Depends(visitor_header)]
) -> VisitorPrincipal:
    token = token_from_header(authorization)
    if token is None:
        raise NotAuthenticated("Send the visitor token as: Authorization: Visitor <token>.")
    visitor = read_token(get_kernel(request).settings, token)
    if visitor is None:
        raise NotAuthenticated("The visitor token is invalid or expired. Start a new session.")
    return visitor


CurrentVisitor = Annotated[VisitorPrincipal, Depends(current_visitor)]


def require_widget(visitor: VisitorPrincipal, widget_id: int) -> None:
    """A token of one widget is worthless on another's endpoints."""
    if visitor.widget_id != widget_id:
        raise PermissionDenied("This visitor token belongs to another widget.")


async def authenticate_visitor_socket(websocket: WebSocket) -> Subscriber | None:
    """The hub's authenticator for widget frames: the visitor token in the query string."""
    kernel = get_kernel(websocket)
    visitor = read_token(kernel.settings, websocket.query_params.get("visitor_token", ""))
    if visitor is None:
        return None

    async def still_valid() -> bool:
        return True  # a token names no session that could be revoked; it only expires

    return Subscriber(
        label=f"visitor {visitor.contact_id}",
        private_topic=f"visitor:{visitor.contact_id}",
        still_valid=still_valid,
        principal=visitor,
    )
