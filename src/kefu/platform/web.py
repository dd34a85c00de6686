"""Server-rendered UI and HTTP plumbing: templates, flash messages, and errors as responses.

One mapping turns every error into a response: JSON problem details (RFC 9457) for API
clients, a friendly page for people. Nothing a user sees carries a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from kefu.platform import i18n
from kefu.platform.errors import HTTP_TITLES, DomainError, InvalidInput, RateLimited, Unavailable, overloaded
from kefu.platform.i18n import N_
from kefu.platform.observability import current_request_id
from kefu.platform.security import Signer, csrf_token_for

log = logging.getLogger(__name__)

FLASH_COOKIE = "kefu_flash"
PROBLEM_JSON = "application/problem+json"
ContextProcessor = Callable[[Request], Awaitable[Mapping[str, Any]]]


class Templates:
    """The Jinja environment over the kernel's templates and every feature's ``templates/``."""

    def __init__(
        self,
        directories: Iterable[Path],
        *,
        secret: str,
        secure_cookies: bool = False,
        static_version: str = "0",
    ) -> None:
        self.secure_cookies = secure_cookies
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(d)) for d in directories]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            enable_async=False,
        )
        self.env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
            gettext=lambda message: i18n.translations(i18n.get_locale()).gettext(message),
            ngettext=lambda s, p, n: i18n.translations(i18n.get_locale()).ngettext(s, p, n),
            newstyle=True,
        )
        self.env.globals.update(
            static_version=static_version,
            locales=i18n.LOCALE_LABELS,
            html_lang=i18n.html_lang,
        )
        self.env.filters["tojson_attr"] = lambda value: json.dumps(value, ensure_ascii=False)
        self.csrf_signer = Signer(secret, "csrf")
        self.flash_signer = Signer(secret, "flash")
        self.processors: list[ContextProcessor] = []

    def add_context_processor(self, processor: ContextProcessor) -> None:
        self.processors.append(processor)

    async def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        values: dict[str, Any] = {}
        for processor in self.processors:
            values.update(await processor(request))
        values.update(
            request=request,
            locale=i18n.get_locale(),
            csrf_token=csrf_token_for(request, self.csrf_signer),
            flashes=self._pop_flashes(request),
            principal=getattr(request.state, "principal", None),
        )
        values.update(context or {})
        html = self.env.get_template(name).render(values)
        response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    # -- flash messages: one-shot notices shown on the next page -------------------------------
    def flash(self, response: Response, message: str, *, level: str = "success", **params: Any) -> None:
        response.set_cookie(
            FLASH_COOKIE,
            self.flash_signer.sign([[level, message, params]]),
            max_age=60,
            httponly=True,
            secure=self.secure_cookies,
            samesite="lax",
            path="/",
        )

    def _pop_flashes(self, request: Request) -> list[tuple[str, str]]:
        raw = request.cookies.get(FLASH_COOKIE)
        data = self.flash_signer.unsign(raw) if raw else None
        if not isinstance(data, list):
            return []
        shown = []
        for item in data:
            if isinstance(item, list) and len(item) == 3 and isinstance(item[2], dict):
                shown.append((str(item[0]), i18n.gettext(str(item[1]), **item[2])))
        return shown

    def redirect(
        self, url: str, *, message: str | None = None, level: str = "success", **params: Any
    ) -> Response:
        """Post/redirect/get, with an optional flash message (an English msgid)."""
        response = RedirectResponse(url, status_code=303)
        if message:
            self.flash(response, message, level=level, **params)
        return response


def wants_json(request_path: str, accept: str) -> bool:
    if request_path.startswith(("/api/", "/healthz", "/readyz", "/metrics")):
        return True
    return "application/json" in accept and "text/html" not in accept


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    instance: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:kefu:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update(extra or {})
    return body


def translated_errors(error: InvalidInput) -> list[dict[str, Any]]:
    shown = []
    for item in error.errors:
        text = str(item.get("message", ""))
        params = error.params if text == error.message else {}
        shown.append({**item, "message": i18n.translate(text, params)})
    return shown


class ErrorRenderer:
    """Turns errors into responses for both audiences; installed once on the app."""

    def __init__(self, templates: Templates, default_locale: str, *, login_url: str = "/login") -> None:
        self.templates = templates
        self.default_locale = default_locale
        self.login_url = login_url

    async def response(self, request: Request, error: DomainError) -> Response:
        detail = i18n.translate(error.message, error.params)
        title = i18n.gettext(error.title)
        headers = {}
        if isinstance(error, RateLimited | Unavailable) and error.retry_after is not None:
            headers["retry-after"] = str(error.retry_after)
        extra: dict[str, Any] = {"code": error.code}
        if isinstance(error, InvalidInput) and error.errors:
            extra["errors"] = translated_errors(error)
        return await self._respond(request, error.status, title, detail, error.code, extra, headers)

    async def _respond(
        self,
        request: Request,
        status: int,
        title: str,
        detail: str,
        code: str,
        extra: Mapping[str, Any],
        headers: Mapping[str, str],
    ) -> Response:
        if wants_json(request.url.path, request.headers.get("accept", "")):
            body = problem(
                status, title, detail, code=code, instance=request.url.path, extra={"code": code, **extra}
            )
            return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers))
        if status == 401 and request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{self.login_url}?{urlencode({'next': target})}", status_code=303)
        try:
            return await self.templates.render(
                request,
                "errors/error.html",
                {"status": status, "title": title, "detail": detail, "code": code},
                status_code=status,
                headers=headers,
            )
        except Exception:
            log.exception("rendering the error page failed")
            return PlainTextResponse(f"{status} {title}\n{detail}", status_code=status, headers=dict(headers))

    async def http_exception(self, request: Request, exc: StarletteHTTPException) -> Response:
        title = i18n.gettext(HTTP_TITLES.get(exc.status_code, N_("Error")))
        detail = title
        if exc.status_code == 404:
            detail = i18n.gettext("The page or resource you asked for does not exist.")
        elif exc.status_code == 405:
            detail = i18n.gettext("This address does not accept that method.")
        headers = dict(exc.headers or {})
        return await self._respond(
            request, exc.status_code, title, detail, f"http-{exc.status_code}", {}, headers
        )

    async def validation(self, request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(part) for part in err.get("loc", ())), "message": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        title = i18n.gettext("Invalid input")
        detail = i18n.gettext("Some fields are missing or invalid.")
        return await self._respond(request, 422, title, detail, "invalid-input", {"errors": errors}, {})

    async def unexpected(self, request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        title = i18n.gettext("Internal error")
        detail = i18n.gettext("Something went wrong on our side. It has been logged; please try again.")
        return await self._respond(request, 500, title, detail, "internal", {}, {})

    async def asgi(self, error: DomainError, scope: Scope, receive: Receive, send: Send) -> None:
        """For middleware that fails a request before any route runs (CSRF, body size)."""
        request = Request(scope, receive)
        locale = request.cookies.get("kefu_lang") or i18n.negotiate(
            request.headers.get("accept-language"), self.default_locale
        )
        i18n.set_locale(locale)
        response = await self.response(request, error)
        await response(scope, receive, send)

    def install(self, app: FastAPI) -> None:
        async def on_domain(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, DomainError)
            return await self.response(request, exc)

        async def on_http(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, StarletteHTTPException)
            return await self.http_exception(request, exc)

        async def on_validation(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, RequestValidationError)
            return await self.validation(request, exc)

        app.add_exception_handler(DomainError, on_domain)
        app.add_exception_handler(StarletteHTTPException, on_http)
        app.add_exception_handler(RequestValidationError, on_validation)

    async def asgi_unexpected(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """For :class:`~kefu.platform.observability.RequestContextMiddleware`: the last line of defence."""
        request = Request(scope, receive)
        if isinstance(exc, DomainError):
            response = await self.response(request, exc)
        elif isinstance(exc, DBAPIError) and isinstance(exc.orig, Exception) and _is_data_error(exc):
            # Input the validation let through but the database refused (a value out of range):
            # the client's mistake, reported as such, and logged so the validation gets fixed.
            log.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
            response = await self.response(request, InvalidInput("A value is out of range or malformed."))
        elif (busy := overloaded(exc)) is not None:
            log.warning("overloaded on %s %s: %s", request.method, request.url.path, exc)
            response = await self.response(request, busy)
        else:
            response = await self.unexpected(request, exc)
        await response(scope, receive, send)


def _is_data_error(exc: DBAPIError) -> bool:
    """PostgreSQL class 22 ("data exception": out of range, invalid text such as NUL…)."""
    if isinstance(exc, DataError):
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


# -- HTML form helpers -------------------------------------------------------------------------------
class Form:
    """A submitted HTML form, read defensively (missing, repeated or odd fields never crash)."""

    def __init__(self, data: Mapping[str, Any], lists: Mapping[str, list[Any]]) -> None:
        self._data = data
        self._lists = lists

    @classmethod
    async def read(cls, request: Request) -> Form:
        form = await request.form()
        lists = {key: form.getlist(key) for key in form}
        return cls({key: form.get(key) for key in form}, lists)

    def text(self, name: str, default: str = "", *, max_length: int = 10_000) -> str:
        value = self._data.get(name)
        if not isinstance(value, str):
            return default
        return value[:max_length]

    def optional(self, name: str) -> str | None:
        value = self.text(name)
        return value if value.strip() else None

    def flag(self, name: str) -> bool:
        return self.text(name) in {"1", "on", "true", "yes"}

    def ints(self, name: str) -> list[int]:
        found = []
        for value in self._lists.get(name, []):
            if isinstance(value, str) and value.isdigit() and len(value) < 10:
                found.append(int(value))
        return found

    def texts(self, name: str) -> list[str]:
        return [v for v in self._lists.get(name, []) if isinstance(v, str)]

    def integer(self, name: str) -> int | None:
        value = self.text(name).strip()
        return int(value) if value.isdigit() and len(value) < 10 else None


def field_errors(error: DomainError) -> dict[str, str]:
    """Errors of a failed form submission, keyed by field (``_form`` for the whole form)."""
    message = i18n.translate(error.message, error.params)
    found: dict[str, str] = {}
    if isinstance(error, InvalidInput):
        for item in translated_errors(error):
            if item.get("field"):
                found[str(item["field"])] = str(item["message"])
    field = error.extra.get("field")
    if isinstance(field, str):
        found[field] = message
    if not found:
        found["_form"] = message
    return found
