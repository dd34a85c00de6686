"""The composition root: builds the kernel, plugs in every feature, returns the ASGI app.

This is the one module that knows every feature. A new feature adds its router(s), job
registration, event handlers, realtime topic rule and navigation entries here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

import kefu
from kefu import accounts, admin
from kefu.accounts import Permission, Principal
from kefu.accounts import api as accounts_api
from kefu.accounts import jobs as accounts_jobs
from kefu.accounts import pages as accounts_pages
from kefu.accounts.access import ROLE_LABELS, Role
from kefu.admin import api as admin_api
from kefu.admin import pages as admin_pages
from kefu.calendars import api as calendars_api
from kefu.calendars import pages as calendars_pages
from kefu.channels.web_chat import api as web_chat_api
from kefu.channels.web_chat import pages as web_chat_pages
from kefu.channels.web_chat import socket as web_chat_socket
from kefu.channels.web_chat import transcript as web_chat_transcript
from kefu.channels.web_chat.visitors import VisitorPrincipal, authenticate_visitor_socket
from kefu.conversations import api as conversations_api
from kefu.conversations import live as conversations_live
from kefu.conversations import pages as conversations_pages
from kefu.platform import mail
from kefu.platform.i18n import N_
from kefu.platform.kernel import Kernel, get_kernel
from kefu.platform.observability import RequestContextMiddleware
from kefu.platform.realtime import Subscriber
from kefu.platform.security import BodyLimitMiddleware, CSRFMiddleware, SecurityHeadersMiddleware
from kefu.platform.web import ErrorRenderer, problem
from kefu.replies import api as replies_api
from kefu.replies import pages as replies_pages
from kefu.routing import api as routing_api
from kefu.routing import config_api as routing_config_api
from kefu.routing import config_pages as routing_config_pages
from kefu.routing import handlers as routing_handlers
from kefu.routing import pages as routing_pages
from kefu.routing import sla_api as routing_sla_api
from kefu.routing import sla_pages as routing_sla_pages
from kefu.settings import Settings, load_settings

PACKAGE_DIR = Path(__file__).resolve().parent
WIDGET_API_PREFIX = "/api/v1/widget/"
FEATURE_TEMPLATE_DIRS = [
    PACKAGE_DIR / name / "templates"
    for name in ("accounts", "admin", "calendars", "conversations", "routing", "replies", "channels/web_chat")
]


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    permission: Permission | None = None
    hint: str = ""
    exact: bool = False

    def is_current(self, path: str) -> bool:
        return path == self.url if self.exact else path == self.url or path.startswith(self.url + "/")


ADMIN_NAV = [
    NavItem(N_("Users"), "/admin/users", Permission.users_view, N_("Agents, supervisors and administrators")),
    NavItem(N_("Teams"), "/admin/teams", Permission.teams_view, N_("Groups of agents (技能组)")),
    NavItem(N_("Roles"), "/admin/roles", Permission.roles_view, N_("What each role may do")),
    NavItem(
        N_("Routing"),
        "/admin/routing",
        Permission.routing_manage,
        N_("Skills, capacity, queue strategies and customer tiers"),
    ),
    NavItem(
        N_("Business hours"),
        "/admin/calendars",
        Permission.calendars_view,
        N_("Opening hours, holidays and make-up workdays"),
    ),
    NavItem(
        N_("Web chat"),
        "/admin/web-chat",
        Permission.channels_manage,
        N_("Chat widgets for your websites: look, texts, pre-chat form, snippet"),
    ),
    NavItem(
        N_("Categories"),
        "/admin/categories",
        Permission.categories_manage,
        N_("What conversations are about (咨询, 投诉…)"),
    ),
    NavItem(
        N_("General settings"),
        "/admin/settings",
        Permission.settings_manage,
        N_("Workspace name, time zone, defaults"),
    ),
    NavItem(N_("Audit log"), "/admin/audit", Permission.audit_view, N_("Who changed what, and every login")),
    NavItem(N_("Background jobs"), "/admin/jobs", Permission.jobs_manage, N_("Queued, failed and dead jobs")),
]

WORKSPACE_NAV = [
    NavItem(N_("Inbox"), "/inbox", Permission.conversations_view),
    NavItem(N_("Quick replies"), "/replies", Permission.conversations_reply),
    NavItem(N_("Agent status"), "/supervisor/presence", Permission.presence_view),
    NavItem(N_("Staffing"), "/supervisor/staffing", Permission.staffing_view),
]

HOME_CARDS = [
    {
        "title": N_("Inbox"),
        "text": N_("Conversations from every channel, waiting for you and your team."),
        "url": "/inbox",
        "action": N_("Open the inbox"),
    },
    {
        "title": N_("My account"),
        "text": N_("Your profile, password, logins and API tokens."),
        "url": "/account",
        "action": N_("Go to my account"),
    },
    {
        "title": N_("API"),
        "text": N_("Connect other systems through the REST API."),
        "url": "/api/docs",
        "action": N_("API documentation"),
    },
]


def _visible(items: list[NavItem], principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [item for item in items if item.permission is None or principal.can(item.permission)]


def _main_nav(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    items = [NavItem(N_("Start"), "/", exact=True), *_visible(WORKSPACE_NAV, principal)]
    if _visible(ADMIN_NAV, principal):
        items.append(NavItem(N_("Administration"), "/admin"))
    return items


def _role_label(role: str) -> str:
    return ROLE_LABELS[Role(role)]


async def _page_context(request: Request) -> Mapping[str, Any]:
    kernel = get_kernel(request)
    async with kernel.db.reader() as session:
        workspace = await admin.get_workspace_settings(session)
    principal = getattr(request.state, "principal", None)
    return {
        "workspace_name": workspace.name,
        "tz": workspace.tz,
        "main_nav": _main_nav(principal),
        "admin_nav": _visible(ADMIN_NAV, principal),
        "home_cards": HOME_CARDS,
        "role_label": _role_label,
    }


async def _authenticate_socket(websocket: WebSocket) -> Subscriber | None:
    """Widget visitors present a visitor token; everyone else a session cookie or API token."""
    if "visitor_token" in websocket.query_params:
        return await authenticate_visitor_socket(websocket)
    return await accounts.authenticate_socket(websocket)


async def _authorize_topic(subscriber: Subscriber, topic: str) -> bool:
    """Visitors follow only their private topic (granted by the hub); users per their role."""
    principal = subscriber.principal
    if isinstance(principal, VisitorPrincipal) or not isinstance(principal, Principal):
        return False
    kind = topic.split(":", 1)[0]
    if kind in {"user", "users", "teams"}:
        return accounts.can_follow_topic(principal, topic)
    if kind in {"conversation", "inbox", "presence"}:
        return principal.can(Permission.conversations_view)
    return kind in {"workspace", "calendars"}


def build_kernel(settings: Settings) -> Kernel:
    kernel = Kernel.build(settings, template_dirs=FEATURE_TEMPLATE_DIRS)
    accounts_jobs.register(kernel.jobs)
    mail.register(kernel.jobs)
    kernel.enable_realtime(_authenticate_socket, _authorize_topic)
    conversations_live.register(kernel)
    web_chat_socket.register(kernel)
    routing_handlers.register(kernel)
    kernel.templates.add_context_processor(_page_context)
    kernel.templates.env.globals["static_version"] = kefu.__version__
    return kernel


def create_app(settings: Settings | None = None, *, run_jobs: bool | None = None) -> FastAPI:
    settings = settings or load_settings()
    kernel = build_kernel(settings)
    start_jobs = settings.run_jobs if run_jobs is None else run_jobs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await kernel.start(run_jobs=start_jobs)
        try:
            yield
        finally:
            await kernel.stop()

    app = FastAPI(
        title="kefu API",
        version=kefu.__version__,
        summary="kefu (客服) customer service center",
        description="REST API of kefu. Authenticate with `Authorization: Bearer <token>`; "
        "create tokens on your account page. Errors are RFC 9457 problem details.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.kernel = kernel
    _document_bearer_auth(app)
    errors = ErrorRenderer(kernel.templates, settings.default_locale)
    errors.install(app)

    # Starlette runs the middleware added last first: headers wrap everything, then the
    # request context (id, language, last-resort error page), the body limit, and CSRF.
    app.add_middleware(
        CSRFMiddleware,
        signer=kernel.templates.csrf_signer,
        secure=settings.https,
        respond_error=errors.asgi,
        credential_cookies=accounts.SESSION_COOKIES,
        # Widget visitors prove themselves with a visitor token in a header, never a cookie.
        exempt=lambda path: path.startswith(WIDGET_API_PREFIX),
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes, respond_error=errors.asgi)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=kernel.metrics,
        default_locale=settings.default_locale,
        on_unexpected=errors.asgi_unexpected,
    )
    app.add_middleware(SecurityHeadersMiddleware, https=settings.https)

    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    _add_platform_routes(app, kernel)
    for router in (
        accounts_api.router,
        admin_api.router,
        calendars_api.router,
        conversations_api.router,
        routing_api.router,
        routing_config_api.router,
        routing_sla_api.router,
        replies_api.router,
        web_chat_api.router,
        web_chat_transcript.router,
        accounts_pages.router,
        admin_pages.router,
        calendars_pages.router,
        conversations_pages.router,
        routing_pages.router,
        routing_config_pages.router,
        routing_sla_pages.router,
        replies_pages.router,
        web_chat_pages.router,
    ):
        app.include_router(router)
    return app


def _document_bearer_auth(app: FastAPI) -> None:
    """Tell OpenAPI (and the Authorize button of /api/docs) how API clients authenticate."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["bearerToken"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (kefu_…): create one on the account page.",
        }
        schema["security"] = [{"bearerToken": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def _add_platform_routes(app: FastAPI, kernel: Kernel) -> None:
    assert kernel.hub is not None

    @app.get("/healthz", include_in_schema=True, tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: database and broker reachable",
        responses={503: {"description": "A dependency is down"}},
    )
    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        for name, probe in (("database", kernel.db.ping), ("broker", kernel.broker.ping)):
            checks[name] = await _probe(probe)
        if all(value == "ok" for value in checks.values()):
            return JSONResponse({"status": "ok", "checks": checks})
        body = problem(
            503,
            "Service unavailable",
            "A dependency is not reachable.",
            code="unavailable",
            instance=request.url.path,
            extra={"checks": checks},
        )
        return JSONResponse(body, status_code=503, media_type="application/problem+json")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(kernel.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs(request: Request) -> Response:
        return await kernel.templates.render(request, "api_docs.html")

    app.add_api_websocket_route("/api/v1/realtime", kernel.hub.endpoint)


async def _probe(probe: Callable[[], Awaitable[None]]) -> str:
    try:
        await probe()
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"
