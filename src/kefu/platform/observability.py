"""Logs, request ids and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.platform import i18n

_request_id: ContextVar[str | None] = ContextVar("kefu_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = current_request_id()
        return f"{line} [{request_id}]" if request_id else line


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class Metrics:
    """The process's Prometheus instruments, on a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kefu_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "kefu_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.websockets = Gauge(
            "kefu_realtime_connections", "Open realtime WebSockets", registry=self.registry
        )
        self.events = Counter(
            "kefu_events_published", "Events sent to realtime topics", registry=self.registry
        )


Responder = Callable[[Exception, Scope, Receive, Send], Awaitable[None]]


class RequestContextMiddleware:
    """Request id, UI language, metrics, and the last line of defence against a 500 with a trace."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        default_locale: str,
        on_unexpected: Responder,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.default_locale = default_locale
        self.on_unexpected = on_unexpected

    def _locale(self, scope: Scope) -> str:
        cookie = b""
        accept = b""
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookie += value + b";"
            elif name == b"accept-language":
                accept = value
        for part in cookie.decode("latin-1").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "kefu_lang" and value in i18n.LOCALES:
                return value
        return i18n.negotiate(accept.decode("latin-1") or None, self.default_locale)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else secrets.token_hex(8)
        token = _request_id.set(request_id)
        i18n.set_locale(self._locale(scope))
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                _request_id.reset(token)
            return

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if response_started:
                raise
            await self.on_unexpected(exc, scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], label, str(status)).inc()
            self.metrics.latency.labels(scope["method"], label).observe(elapsed)
            _request_id.reset(token)
