"""JSON API of the accounts feature: /api/v1/me, users, teams, tokens, roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from kefu.accounts import queries, service
from kefu.accounts.access import (
    ROLE_LABELS,
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
)
from kefu.accounts.auth import CurrentPrincipal, require
from kefu.accounts.schemas import (
    MeOut,
    MeUpdate,
    PasswordChange,
    PasswordSet,
    RoleOut,
    TeamCreate,
    TeamMembers,
    TeamOut,
    TeamUpdate,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from kefu.platform.api import AfterId, Limit, Page, PathId, SearchText, page_of, problems
from kefu.platform.i18n import gettext
from kefu.platform.kernel import KernelDep

router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=problems(401, 403, 422))

ViewUsers = Annotated[Principal, Depends(require(Permission.users_view))]
ManageUsers = Annotated[Principal, Depends(require(Permission.users_manage))]
ViewTeams = Annotated[Principal, Depends(require(Permission.teams_view))]
ManageTeams = Annotated[Principal, Depends(require(Permission.teams_manage))]
EditProfile = Annotated[Principal, Depends(require(Permission.profile_edit))]
ManageTokens = Annotated[Principal, Depends(require(Permission.tokens_manage))]
ViewRoles = Annotated[Principal, Depends(require(Permission.roles_view))]


def _me(user: UserOut, principal: Principal) -> MeOut:
    permissions = [p for p in Permission if principal.can(p)]
    scopes = sorted(principal.scopes) if principal.scopes is not None else None
    return MeOut(**user.model_dump(), permissions=permissions, scopes=scopes)


@router.get("/me", response_model=MeOut, summary="The user this request acts for")
async def get_me(kernel: KernelDep, principal: CurrentPrincipal) -> MeOut:
    async with kernel.db.reader() as session:
        user = await queries.get_user(session, principal.user_id)
        return _me(UserOut.of(user), principal)


@router.patch("/me", response_model=MeOut, summary="Change one's own name or language")
async def patch_me(kernel: KernelDep, principal: EditProfile, body: MeUpdate) -> MeOut:
    async with kernel.db.transaction() as session:
        user = await service.update_profile(session, principal, name=body.name, locale=body.locale)
        return _me(UserOut.of(user), principal)


@router.post("/me/password", status_code=204, summary="Change one's own password (ends other logins)")
async def change_password(kernel: KernelDep, principal: EditProfile, body: PasswordChange) -> Response:
    async with kernel.db.transaction() as session:
        await service.change_own_password(session, principal, body.current_password, body.new_password)
    return Response(status_code=204)


@router.get("/users", response_model=Page[UserOut], summary="List users")
async def list_users(
    kernel: KernelDep,
    principal: ViewUsers,
    q: SearchText = None,
    role: Role | None = None,
    team_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    active: bool | None = None,
    after: AfterId = None,
    limit: Limit = 50,
) -> Page[UserOut]:
    filters = queries.UserFilter(text=q, role=role, team_id=team_id, active=active)
    async with kernel.db.reader() as session:
        users = await queries.list_users(session, filters, limit=limit, after_id=after)
        return page_of([UserOut.of(u) for u in users], limit)


@router.post(
    "/users", response_model=UserOut, status_code=201, responses=problems(409), summary="Create a user"
)
async def create_user(kernel: KernelDep, principal: ManageUsers, body: UserCreate) -> UserOut:
    async with kernel.db.transaction() as session:
        user = await service.create_user(
            session,
            principal.actor,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            team_ids=body.team_ids,
            locale=body.locale,
        )
        return UserOut.of(user)


@router.get("/users/{user_id}", response_model=UserOut, responses=problems(404), summary="One user")
async def get_user(kernel: KernelDep, principal: ViewUsers, user_id: PathId) -> UserOut:
    async with kernel.db.reader() as session:
        return UserOut.of(await queries.get_user(session, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses=problems(404, 409),
    summary="Change a user (deactivate with is_active=false)",
)
async def patch_user(kernel: KernelDep, principal: ManageUsers, user_id: PathId, body: UserUpdate) -> UserOut:
    async with kernel.db.transaction() as session:
        user = await service.update_user(
            session,
            principal.actor,
            user_id,
            name=body.name,
            email=body.email,
            role=body.role,
            is_active=body.is_active,
            team_ids=body.team_ids,
            locale=body.locale,
        )
        return UserOut.of(user)


@router.put(
    "/users/{user_id}/password",
    status_code=204,
    responses=problems(404),
    summary="Set a user's password (ends that user's logins)",
)
async def set_password(
    kernel: KernelDep, principal: ManageUsers, user_id: PathId, body: PasswordSet
) -> Response:
    async with kernel.db.transaction() as session:
        await service.set_password(session, principal.actor, user_id, body.password)
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/logout-everywhere",
    status_code=204,
    responses=problems(404),
    summary="End every browser login of a user",
)
async def logout_everywhere(kernel: KernelDep, principal: ManageUsers, user_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.logout_everywhere(session, principal.actor, user_id)
    return Response(status_code=204)


@router.get("/teams", response_model=list[TeamOut], summary="List teams")
async def list_teams(kernel: KernelDep, principal: ViewTeams) -> list[TeamOut]:
    async with kernel.db.reader() as session:
        return [TeamOut.of(t) for t in await queries.list_teams(session)]


@router.post(
    "/teams", response_model=TeamOut, status_code=201, responses=problems(409), summary="Create a team"
)
async def create_team(kernel: KernelDep, principal: ManageTeams, body: TeamCreate) -> TeamOut:
    async with kernel.db.transaction() as session:
        team = await service.create_team(
            session, principal.actor, name=body.name, description=body.description, member_ids=body.member_ids
        )
        return TeamOut.of(team)


@router.get("/teams/{team_id}", response_model=TeamOut, responses=problems(404), summary="One team")
async def get_team(kernel: KernelDep, principal: ViewTeams, team_id: PathId) -> TeamOut:
    async with kernel.db.reader() as session:
        return TeamOut.of(await queries.get_team(session, team_id))


@router.patch(
    "/teams/{team_id}", response_model=TeamOut, responses=problems(404, 409), summary="Change a team"
)
async def patch_team(kernel: KernelDep, principal: ManageTeams, team_id: PathId, body: TeamUpdate) -> TeamOut:
    async with kernel.db.transaction() as session:
        team = await service.update_team(
            session, principal.actor, team_id, name=body.name, description=body.description
        )
        return TeamOut.of(team)


@router.put(
    "/teams/{team_id}/members",
    response_model=TeamOut,
    responses=problems(404),
    summary="Replace a team's members",
)
async def put_members(
    kernel: KernelDep, principal: ManageTeams, team_id: PathId, body: TeamMembers
) -> TeamOut:
    async with kernel.db.transaction() as session:
        team = await service.update_team(session, principal.actor, team_id, member_ids=body.user_ids)
        return TeamOut.of(team)


@router.delete("/teams/{team_id}", status_code=204, responses=problems(404), summary="Delete a team")
async def delete_team(kernel: KernelDep, principal: ManageTeams, team_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.delete_team(session, principal.actor, team_id)
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut], summary="One's own API tokens")
async def list_tokens(kernel: KernelDep, principal: CurrentPrincipal) -> list[TokenOut]:
    async with kernel.db.reader() as session:
        return [TokenOut.of(t) for t in await queries.list_tokens(session, principal.user_id)]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    responses=problems(409),
    summary="Create an API token (its value is shown once)",
)
async def create_token(kernel: KernelDep, principal: ManageTokens, body: TokenCreate) -> TokenCreated:
    async with kernel.db.transaction() as session:
        token, raw = await service.create_api_token(
            session, principal, name=body.name, scopes=body.scopes, expires_days=body.expires_days
        )
        return TokenCreated(**TokenOut.of(token).model_dump(), token=raw)


@router.delete("/tokens/{token_id}", status_code=204, responses=problems(404), summary="Revoke an API token")
async def revoke_token(kernel: KernelDep, principal: ManageTokens, token_id: PathId) -> Response:
    async with kernel.db.transaction() as session:
        await service.revoke_api_token(session, principal, token_id)
    return Response(status_code=204)


@router.get("/roles", response_model=list[RoleOut], summary="Roles and their permissions")
async def list_roles(kernel: KernelDep, principal: ViewRoles) -> list[RoleOut]:
    async with kernel.db.reader() as session:
        counts = await queries.count_users_by_role(session)
    return [
        RoleOut(
            role=role,
            label=gettext(ROLE_LABELS[role]),
            permissions=sorted(ROLE_PERMISSIONS[role]),
            active_users=counts[role],
        )
        for role in Role
    ]
