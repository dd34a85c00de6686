"""HTML pages of the accounts feature: login, language, own account, users, teams, roles."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import RedirectResponse, Response

from kefu.accounts import queries, service
from kefu.accounts.access import (
    PERMISSION_LABELS,
    ROLE_LABELS,
    ROLE_PERMISSIONS,
    SCOPE_LABELS,
    Permission,
    Principal,
    Role,
    grantable_scopes,
)
from kefu.accounts.auth import CurrentPrincipal, MaybePrincipal, client_ip, require, session_cookie_name
from kefu.accounts.models import Team, User
from kefu.platform.api import MAX_ID
from kefu.platform.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied, RateLimited
from kefu.platform.i18n import LOCALES, gettext
from kefu.platform.kernel import Kernel, KernelDep
from kefu.platform.security import rotate_csrf
from kefu.platform.web import Form, field_errors

router = APIRouter(include_in_schema=False)

LANG_COOKIE = "kefu_lang"
FORM_ERRORS = (InvalidInput, Conflict, PermissionDenied)

ViewUsers = Annotated[Principal, Depends(require(Permission.users_view))]
ManageUsers = Annotated[Principal, Depends(require(Permission.users_manage))]
ViewTeams = Annotated[Principal, Depends(require(Permission.teams_view))]
ManageTeams = Annotated[Principal, Depends(require(Permission.teams_manage))]
ViewRoles = Annotated[Principal, Depends(require(Permission.roles_view))]
EditProfile = Annotated[Principal, Depends(require(Permission.profile_edit))]
ManageTokens = Annotated[Principal, Depends(require(Permission.tokens_manage))]


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: never ``//evil.example`` or ``https://…``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _search_text(raw: str | None) -> str | None:
    """Text to search for, without control characters (PostgreSQL cannot compare a NUL)."""
    text = "".join(ch for ch in (raw or "")[:100] if unicodedata.category(ch) != "Cc")
    return text.strip() or None


def _id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise NotFound("No such item.")
    return value


@dataclass(frozen=True)
class UserValues:
    """What the user form shows: the stored user, or what was just submitted."""

    email: str
    name: str
    role: str
    team_ids: list[int]
    is_active: bool

    @classmethod
    def of(cls, form: Form, *, active: bool) -> UserValues:
        return cls(
            email=form.text("email", max_length=300),
            name=form.text("name", max_length=200),
            role=form.text("role"),
            team_ids=form.ints("team_ids"),
            is_active=active,
        )

    @classmethod
    def of_user(cls, user: User | None) -> UserValues:
        if user is None:
            return cls("", "", Role.agent.value, [], True)
        return cls(user.email, user.name, user.role, [t.id for t in user.teams], user.is_active)


@dataclass(frozen=True)
class TeamValues:
    name: str
    description: str
    member_ids: list[int]

    @classmethod
    def of(cls, form: Form) -> TeamValues:
        return cls(
            name=form.text("name", max_length=200),
            description=form.text("description", max_length=1000),
            member_ids=form.ints("member_ids"),
        )

    @classmethod
    def of_team(cls, team: Team | None) -> TeamValues:
        if team is None:
            return cls("", "", [])
        return cls(team.name, team.description, [u.id for u in team.members])


def _partial(request: Request) -> bool:
    """An htmx swap wants the fragment; a history restore (back button) wants the whole page."""
    return bool(request.headers.get("hx-request")) and not request.headers.get("hx-history-restore-request")


def _role_options() -> list[tuple[str, str]]:
    return [(role.value, gettext(ROLE_LABELS[role])) for role in Role]


# -- login, logout, language ----------------------------------------------------------------------
@router.get("/login")
async def login_page(request: Request, kernel: KernelDep, principal: MaybePrincipal) -> Response:
    target = safe_next(request.query_params.get("next"))
    if principal is not None:
        return RedirectResponse(target, status_code=303)
    return await kernel.templates.render(
        request, "accounts/login.html", {"next": target, "email": "", "errors": {}}
    )


@router.post("/login")
async def login_submit(request: Request, kernel: KernelDep) -> Response:
    form = await Form.read(request)
    target = safe_next(form.text("next"))
    email = form.text("email", max_length=254)
    settings = kernel.settings
    async with kernel.db.transaction() as session:
        result = await service.login(
            session,
            email=email,
            password=form.text("password", max_length=256),
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            ttl=timedelta(hours=settings.session_ttl_hours),
            max_failures=settings.login_max_failures,
            lockout=timedelta(seconds=settings.login_lockout_seconds),
        )
    if result.error is not None or result.user is None or result.token is None:
        error: DomainError = result.error or InvalidInput("Wrong email or password.")
        status = 429 if isinstance(error, RateLimited) else 422
        headers = {"retry-after": str(error.retry_after)} if isinstance(error, RateLimited) else None
        return await kernel.templates.render(
            request,
            "accounts/login.html",
            {"next": target, "email": email, "errors": {"_form": field_errors(error).popitem()[1]}},
            status_code=status,
            headers=headers,
        )
    response = RedirectResponse(target, status_code=303)
    _set_login_cookie(response, kernel, result.token)
    if result.user.locale:
        _set_lang_cookie(response, kernel, result.user.locale)
    rotate_csrf(request, MutableHeaders(raw=response.raw_headers), secure=settings.https)
    return response


def _set_login_cookie(response: Response, kernel: Kernel, token: str) -> None:
    response.set_cookie(
        session_cookie_name(kernel.settings.https),
        token,
        max_age=kernel.settings.session_ttl_hours * 3600,
        httponly=True,
        secure=kernel.settings.https,
        samesite="lax",
        path="/",
    )


def _set_lang_cookie(response: Response, kernel: Kernel, locale: str) -> None:
    response.set_cookie(
        LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax", path="/", secure=kernel.settings.https
    )


@router.post("/logout")
async def logout(request: Request, kernel: KernelDep, principal: MaybePrincipal) -> Response:
    if principal is not None:
        async with kernel.db.transaction() as session:
            await service.logout(session, principal)
    response = kernel.templates.redirect("/login", message="You have logged out.")
    response.delete_cookie(
        session_cookie_name(kernel.settings.https), path="/", secure=kernel.settings.https, httponly=True
    )
    return response


@router.post("/lang")
async def switch_language(request: Request, kernel: KernelDep, principal: MaybePrincipal) -> Response:
    form = await Form.read(request)
    locale = form.text("locale")
    if locale not in LOCALES:
        raise InvalidInput("Choose a language.", field="locale")
    if principal is not None and principal.can(Permission.profile_edit):
        async with kernel.db.transaction() as session:
            await service.update_profile(session, principal, locale=locale)
    response = RedirectResponse(safe_next(form.text("next")), status_code=303)
    _set_lang_cookie(response, kernel, locale)
    return response


# -- one's own account ---------------------------------------------------------------------------
async def _account_page(
    request: Request, kernel: Kernel, principal: Principal, *, status: int = 200, **extra: Any
) -> Response:
    async with kernel.db.reader() as session:
        user = await queries.get_user(session, principal.user_id)
        sessions = await queries.list_sessions(session, principal.user_id)
        tokens = await queries.list_tokens(session, principal.user_id)
    context: dict[str, Any] = {
        "user": user,
        "sessions": sessions,
        "tokens": tokens,
        "scopes": [(scope, SCOPE_LABELS[scope]) for scope in grantable_scopes(principal.role)],
        "role_label": ROLE_LABELS[principal.role],
        "errors": {},
        "new_token": None,
        "section": None,
    }
    context.update(extra)
    return await kernel.templates.render(request, "accounts/account.html", context, status_code=status)


@router.get("/account")
async def account(request: Request, kernel: KernelDep, principal: CurrentPrincipal) -> Response:
    return await _account_page(request, kernel, principal)


@router.post("/account/profile")
async def account_profile(request: Request, kernel: KernelDep, principal: EditProfile) -> Response:
    form = await Form.read(request)
    locales = form.texts("locale")  # "" is a choice too: as the browser asks
    try:
        async with kernel.db.transaction() as session:
            user = await service.update_profile(
                session,
                principal,
                name=form.text("name", max_length=200),
                locale=locales[0] if locales else None,
            )
    except FORM_ERRORS as exc:
        return await _account_page(
            request, kernel, principal, status=422, errors=field_errors(exc), section="profile"
        )
    response = kernel.templates.redirect("/account", message="Your profile was saved.")
    if user.locale:
        _set_lang_cookie(response, kernel, user.locale)
    else:
        response.delete_cookie(LANG_COOKIE, path="/", secure=kernel.settings.https)
    return response


@router.post("/account/password")
async def account_password(request: Request, kernel: KernelDep, principal: EditProfile) -> Response:
    form = await Form.read(request)
    new = form.text("new_password", max_length=256)
    if new != form.text("confirm_password", max_length=256):
        errors = {"confirm_password": gettext("The two passwords differ.")}
        return await _account_page(request, kernel, principal, status=422, errors=errors, section="password")
    try:
        async with kernel.db.transaction() as session:
            await service.change_own_password(
                session, principal, form.text("current_password", max_length=256), new
            )
    except FORM_ERRORS as exc:
        return await _account_page(
            request, kernel, principal, status=422, errors=field_errors(exc), section="password"
        )
    return kernel.templates.redirect(
        "/account", message="Your password was changed. Your other logins have ended."
    )


@router.post("/account/sessions/{session_id}/revoke")
async def account_revoke_session(
    request: Request, kernel: KernelDep, principal: EditProfile, session_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        await service.revoke_session(session, principal, _id(session_id))
    return kernel.templates.redirect("/account", message="The session was ended.")


@router.post("/account/logout-everywhere")
async def account_logout_everywhere(request: Request, kernel: KernelDep, principal: EditProfile) -> Response:
    async with kernel.db.transaction() as session:
        await service.logout_everywhere(session, principal.actor, principal.user_id)
    response = kernel.templates.redirect("/login", message="You have been logged out everywhere.")
    response.delete_cookie(
        session_cookie_name(kernel.settings.https), path="/", secure=kernel.settings.https, httponly=True
    )
    return response


@router.post("/account/tokens")
async def account_create_token(request: Request, kernel: KernelDep, principal: ManageTokens) -> Response:
    form = await Form.read(request)
    expires_days = form.integer("expires_days")
    try:
        if expires_days is None and form.text("expires_days").strip():
            # Typed but no whole number ("-5", "soon"): refused, not quietly a token that never expires.
            raise InvalidInput("Expiry must be between 1 and 3650 days.", field="expires_days")
        async with kernel.db.transaction() as session:
            _, raw = await service.create_api_token(
                session,
                principal,
                name=form.text("name", max_length=200),
                scopes=form.texts("scopes"),
                expires_days=expires_days,
            )
    except FORM_ERRORS as exc:
        return await _account_page(
            request, kernel, principal, status=422, errors=field_errors(exc), section="tokens"
        )
    return await _account_page(request, kernel, principal, new_token=raw, section="tokens")


@router.post("/account/tokens/{token_id}/revoke")
async def account_revoke_token(
    request: Request, kernel: KernelDep, principal: ManageTokens, token_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        await service.revoke_api_token(session, principal, _id(token_id))
    return kernel.templates.redirect("/account", message="The token was revoked.")


# -- users (administration) ---------------------------------------------------------------------
@router.get("/admin/users")
async def users_page(request: Request, kernel: KernelDep, principal: ViewUsers) -> Response:
    params = request.query_params
    role = params.get("role")
    team = params.get("team")
    status = params.get("status", "active")
    filters = queries.UserFilter(
        text=_search_text(params.get("q")),
        role=Role(role) if role is not None and role in Role._value2member_map_ else None,
        team_id=int(team) if team and team.isdigit() and len(team) < 10 else None,
        active={"active": True, "inactive": False}.get(status),
    )
    async with kernel.db.reader() as session:
        users = await queries.list_users(session, filters, limit=500)
        teams = await queries.list_teams(session)
    context = {
        "users": users,
        "teams": teams,
        "filters": filters,
        "status": status,
        "role_options": _role_options(),
        "role_labels": ROLE_LABELS,
        "can_manage": principal.can(Permission.users_manage),
    }
    template = "accounts/users_table.html" if _partial(request) else "accounts/users.html"
    return await kernel.templates.render(request, template, context)


async def _user_form(
    request: Request,
    kernel: Kernel,
    *,
    user: User | None = None,
    values: UserValues | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        teams = await queries.list_teams(session)
        sessions = await queries.list_sessions(session, user.id) if user is not None else []
    if values is None:
        values = UserValues.of_user(user)
    context = {
        "user": user,
        "teams": teams,
        "values": values,
        "errors": errors or {},
        "role_options": _role_options(),
        "sessions": sessions,
    }
    return await kernel.templates.render(request, "accounts/user_form.html", context, status_code=status)


@router.get("/admin/users/new")
async def user_new(request: Request, kernel: KernelDep, principal: ManageUsers) -> Response:
    return await _user_form(request, kernel)


@router.post("/admin/users")
async def user_create(request: Request, kernel: KernelDep, principal: ManageUsers) -> Response:
    form = await Form.read(request)
    values = UserValues.of(form, active=True)
    try:
        async with kernel.db.transaction() as session:
            user = await service.create_user(
                session,
                principal.actor,
                email=values.email,
                name=values.name,
                role=values.role,
                password=form.text("password", max_length=256) or None,
                team_ids=values.team_ids,
            )
    except FORM_ERRORS as exc:
        return await _user_form(request, kernel, values=values, errors=field_errors(exc), status=422)
    return kernel.templates.redirect(
        f"/admin/users/{user.id}", message="The user %(name)s was created.", name=user.name
    )


@router.get("/admin/users/{user_id}")
async def user_edit(request: Request, kernel: KernelDep, principal: ManageUsers, user_id: int) -> Response:
    async with kernel.db.reader() as session:
        user = await queries.get_user(session, _id(user_id))
    return await _user_form(request, kernel, user=user)


@router.post("/admin/users/{user_id}")
async def user_update(request: Request, kernel: KernelDep, principal: ManageUsers, user_id: int) -> Response:
    form = await Form.read(request)
    values = UserValues.of(form, active=form.flag("is_active"))
    try:
        async with kernel.db.transaction() as session:
            await service.update_user(
                session,
                principal.actor,
                _id(user_id),
                email=values.email,
                name=values.name,
                role=values.role,
                is_active=values.is_active,
                team_ids=values.team_ids,
            )
    except FORM_ERRORS as exc:
        async with kernel.db.reader() as session:
            user = await queries.get_user(session, user_id)
        return await _user_form(
            request, kernel, user=user, values=values, errors=field_errors(exc), status=422
        )
    return kernel.templates.redirect(f"/admin/users/{user_id}", message="Saved.")


@router.post("/admin/users/{user_id}/password")
async def user_password(
    request: Request, kernel: KernelDep, principal: ManageUsers, user_id: int
) -> Response:
    form = await Form.read(request)
    try:
        async with kernel.db.transaction() as session:
            await service.set_password(
                session, principal.actor, _id(user_id), form.text("password", max_length=256)
            )
    except FORM_ERRORS as exc:
        async with kernel.db.reader() as session:
            user = await queries.get_user(session, user_id)
        return await _user_form(request, kernel, user=user, errors=field_errors(exc), status=422)
    return kernel.templates.redirect(
        f"/admin/users/{user_id}", message="The password was set. The user's logins have ended."
    )


@router.post("/admin/users/{user_id}/logout-everywhere")
async def user_logout_everywhere(
    request: Request, kernel: KernelDep, principal: ManageUsers, user_id: int
) -> Response:
    async with kernel.db.transaction() as session:
        count = await service.logout_everywhere(session, principal.actor, _id(user_id))
    return kernel.templates.redirect(
        f"/admin/users/{user_id}", message="%(count)s logins were ended.", count=count
    )


# -- teams ---------------------------------------------------------------------------------------
@router.get("/admin/teams")
async def teams_page(request: Request, kernel: KernelDep, principal: ViewTeams) -> Response:
    async with kernel.db.reader() as session:
        teams = await queries.list_teams(session)
    return await kernel.templates.render(
        request, "accounts/teams.html", {"teams": teams, "can_manage": principal.can(Permission.teams_manage)}
    )


async def _team_form(
    request: Request,
    kernel: Kernel,
    *,
    team: Team | None = None,
    values: TeamValues | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with kernel.db.reader() as session:
        users = list(await queries.list_users(session, queries.UserFilter(active=True), limit=1000))
    if team is not None:
        # Deactivated members stay listed (and ticked), so saving the form does not drop them.
        users += [u for u in team.members if not u.is_active]
    if values is None:
        values = TeamValues.of_team(team)
    context = {
        "team": team,
        "users": users,
        "values": values,
        "errors": errors or {},
        "role_labels": ROLE_LABELS,
    }
    return await kernel.templates.render(request, "accounts/team_form.html", context, status_code=status)


@router.get("/admin/teams/new")
async def team_new(request: Request, kernel: KernelDep, principal: ManageTeams) -> Response:
    return await _team_form(request, kernel)


@router.post("/admin/teams")
async def team_create(request: Request, kernel: KernelDep, principal: ManageTeams) -> Response:
    form = await Form.read(request)
    values = TeamValues.of(form)
    try:
        async with kernel.db.transaction() as session:
            team = await service.create_team(
                session,
                principal.actor,
                name=values.name,
                description=values.description,
                member_ids=values.member_ids,
            )
    except FORM_ERRORS as exc:
        return await _team_form(request, kernel, values=values, errors=field_errors(exc), status=422)
    return kernel.templates.redirect("/admin/teams", message="The team %(name)s was created.", name=team.name)


@router.get("/admin/teams/{team_id}")
async def team_edit(request: Request, kernel: KernelDep, principal: ManageTeams, team_id: int) -> Response:
    async with kernel.db.reader() as session:
        team = await queries.get_team(session, _id(team_id))
    return await _team_form(request, kernel, team=team)


@router.post("/admin/teams/{team_id}")
async def team_update(request: Request, kernel: KernelDep, principal: ManageTeams, team_id: int) -> Response:
    form = await Form.read(request)
    values = TeamValues.of(form)
    try:
        async with kernel.db.transaction() as session:
            await service.update_team(
                session,
                principal.actor,
                _id(team_id),
                name=values.name,
                description=values.description,
                member_ids=values.member_ids,
            )
    except FORM_ERRORS as exc:
        async with kernel.db.reader() as session:
            team = await queries.get_team(session, team_id)
        return await _team_form(
            request, kernel, team=team, values=values, errors=field_errors(exc), status=422
        )
    return kernel.templates.redirect("/admin/teams", message="Saved.")


@router.post("/admin/teams/{team_id}/delete")
async def team_delete(request: Request, kernel: KernelDep, principal: ManageTeams, team_id: int) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_team(session, principal.actor, _id(team_id))
    return kernel.templates.redirect("/admin/teams", message="The team was deleted.")


# -- roles ---------------------------------------------------------------------------------------
@router.get("/admin/roles")
async def roles_page(request: Request, kernel: KernelDep, principal: ViewRoles) -> Response:
    async with kernel.db.reader() as session:
        counts = await queries.count_users_by_role(session)
    context = {
        "roles": list(Role),
        "role_labels": ROLE_LABELS,
        "counts": counts,
        "permissions": [(p, PERMISSION_LABELS[p]) for p in Permission],
        "matrix": ROLE_PERMISSIONS,
    }
    return await kernel.templates.render(request, "accounts/roles.html", context)
