"""API shapes of the accounts feature."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from kefu.accounts.access import Permission, Role, Scope
from kefu.accounts.models import ApiToken, Team, User
from kefu.platform.api import ApiModel, BodyId, SafeStr

Name = Annotated[SafeStr, Field(min_length=1, max_length=100)]
Email = Annotated[SafeStr, Field(min_length=3, max_length=254)]
Password = Annotated[str, Field(min_length=1, max_length=256)]
LocaleCode = Literal["zh_CN", "en"]


class UserOut(ApiModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    locale: str | None
    team_ids: list[int]
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=Role(user.role),
            is_active=user.is_active,
            locale=user.locale,
            team_ids=[t.id for t in user.teams],
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class MeOut(UserOut):
    permissions: list[Permission]
    scopes: list[Scope] | None = Field(
        None, description="Scopes of the token in use; null for a browser session."
    )


class UserCreate(ApiModel):
    email: Email
    name: Name
    role: Role
    password: Password | None = Field(None, description="Omit to create a user who cannot log in yet.")
    team_ids: list[BodyId] = Field(default_factory=list, max_length=100)
    locale: LocaleCode | None = None


class UserUpdate(ApiModel):
    email: Email | None = None
    name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None
    team_ids: list[BodyId] | None = Field(None, max_length=100)
    locale: LocaleCode | None = None


class MeUpdate(ApiModel):
    name: Name | None = None
    locale: LocaleCode | None = None


class PasswordSet(ApiModel):
    password: Password


class PasswordChange(ApiModel):
    current_password: Password
    new_password: Password


class TeamOut(ApiModel):
    id: int
    name: str
    description: str
    member_ids: list[int]
    created_at: datetime

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls(
            id=team.id,
            name=team.name,
            description=team.description,
            member_ids=[u.id for u in team.members],
            created_at=team.created_at,
        )


class TeamCreate(ApiModel):
    name: Name
    description: Annotated[SafeStr, Field(max_length=500)] = ""
    member_ids: list[BodyId] = Field(default_factory=list, max_length=1000)


class TeamUpdate(ApiModel):
    name: Name | None = None
    description: Annotated[SafeStr, Field(max_length=500)] | None = None


class TeamMembers(ApiModel):
    user_ids: list[BodyId] = Field(max_length=1000)


class TokenOut(ApiModel):
    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            scopes=[Scope(s) for s in token.scopes],
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


class TokenCreate(ApiModel):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    expires_days: int | None = Field(None, ge=1, le=3650)


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown only in this response: store it now.")


class RoleOut(ApiModel):
    role: Role
    label: str
    permissions: list[Permission]
    active_users: int
