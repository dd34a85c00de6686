"""Who may do what: roles, permissions, token scopes, and the principal of a request.

A request acts as a :class:`Principal`: a user reached through a browser session or an
API token. A permission is granted when the user's role has it *and*, for tokens, the
token carries the scope the permission needs. The matrix below is the single source; the
role page shows it and the tests check every cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kefu.platform.audit import Actor
from kefu.platform.errors import PermissionDenied
from kefu.platform.i18n import N_


class Role(StrEnum):
    admin = "admin"
    supervisor = "supervisor"
    agent = "agent"


ROLE_LABELS: dict[Role, str] = {
    Role.admin: N_("Administrator"),
    Role.supervisor: N_("Supervisor"),
    Role.agent: N_("Agent"),
}


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


SCOPE_LABELS: dict[Scope, str] = {
    Scope.read: N_("Read: see data"),
    Scope.write: N_("Write: change data"),
    Scope.admin: N_("Admin: manage users, settings and security"),
}


class Permission(StrEnum):
    profile_edit = "profile.edit"
    tokens_manage = "tokens.manage"
    users_view = "users.view"
    users_manage = "users.manage"
    teams_view = "teams.view"
    teams_manage = "teams.manage"
    roles_view = "roles.view"
    calendars_view = "calendars.view"
    calendars_manage = "calendars.manage"
    settings_manage = "settings.manage"
    audit_view = "audit.view"
    jobs_manage = "jobs.manage"
    conversations_view = "conversations.view"
    conversations_reply = "conversations.reply"
    categories_manage = "categories.manage"
    replies_manage_shared = "replies.manage_shared"
    presence_view = "presence.view"
    staffing_view = "staffing.view"
    channels_manage = "channels.manage"
    routing_manage = "routing.manage"


PERMISSION_LABELS: dict[Permission, str] = {
    Permission.profile_edit: N_("Edit own profile and password"),
    Permission.tokens_manage: N_("Manage own API tokens"),
    Permission.users_view: N_("See users"),
    Permission.users_manage: N_("Create and change users"),
    Permission.teams_view: N_("See teams"),
    Permission.teams_manage: N_("Create and change teams"),
    Permission.roles_view: N_("See roles and permissions"),
    Permission.calendars_view: N_("See business hours"),
    Permission.calendars_manage: N_("Change business hours and holidays"),
    Permission.settings_manage: N_("Change workspace settings"),
    Permission.audit_view: N_("Read the audit log"),
    Permission.jobs_manage: N_("See and retry background jobs"),
    Permission.conversations_view: N_("See conversations and the inbox"),
    Permission.conversations_reply: N_("Reply, write notes, change and transfer conversations"),
    Permission.categories_manage: N_("Manage conversation categories"),
    Permission.replies_manage_shared: N_("Manage shared quick replies and macros"),
    Permission.presence_view: N_("See every agent's presence"),
    Permission.staffing_view: N_("Use the staffing calculator (Erlang C)"),
    Permission.channels_manage: N_("Configure channels (web chat widgets)"),
    Permission.routing_manage: N_("Configure routing: skills, capacity, queues, tiers"),
}

# The scope a token needs for each permission (a browser session has every scope).
REQUIRED_SCOPE: dict[Permission, Scope] = {
    Permission.profile_edit: Scope.write,
    Permission.tokens_manage: Scope.write,
    Permission.users_view: Scope.read,
    Permission.users_manage: Scope.admin,
    Permission.teams_view: Scope.read,
    Permission.teams_manage: Scope.write,
    Permission.roles_view: Scope.read,
    Permission.calendars_view: Scope.read,
    Permission.calendars_manage: Scope.admin,
    Permission.settings_manage: Scope.admin,
    Permission.audit_view: Scope.admin,
    Permission.jobs_manage: Scope.admin,
    Permission.conversations_view: Scope.read,
    Permission.conversations_reply: Scope.write,
    Permission.categories_manage: Scope.write,
    Permission.replies_manage_shared: Scope.write,
    Permission.presence_view: Scope.read,
    Permission.staffing_view: Scope.read,
    Permission.channels_manage: Scope.admin,
    Permission.routing_manage: Scope.admin,
}

_EVERYONE = {
    Permission.profile_edit,
    Permission.tokens_manage,
    Permission.teams_view,
    Permission.calendars_view,
    Permission.conversations_view,
    Permission.conversations_reply,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.supervisor: frozenset(
        _EVERYONE
        | {
            Permission.users_view,
            Permission.teams_manage,
            Permission.roles_view,
            Permission.categories_manage,
            Permission.replies_manage_shared,
            Permission.presence_view,
            Permission.staffing_view,
        }
    ),
    Role.agent: frozenset(_EVERYONE),
}


@dataclass(frozen=True)
class Principal:
    """The user a request acts for, and how it authenticated."""

    user_id: int
    email: str
    name: str
    role: Role
    locale: str | None
    session_id: int | None = None
    token_id: int | None = None
    scopes: frozenset[Scope] | None = None  # None: a browser session, which has every scope
    ip: str | None = None

    def can(self, permission: Permission) -> bool:
        if permission not in ROLE_PERMISSIONS[self.role]:
            return False
        return self.scopes is None or REQUIRED_SCOPE[permission] in self.scopes

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied("You do not have permission to do this.")

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def actor(self) -> Actor:
        kind = "token" if self.token_id is not None else "user"
        return Actor(kind=kind, label=f"{self.name} <{self.email}>", user_id=self.user_id, ip=self.ip)


def grantable_scopes(role: Role) -> list[Scope]:
    """A token cannot carry a scope its owner's role has no use for."""
    needed = {REQUIRED_SCOPE[p] for p in ROLE_PERMISSIONS[role]}
    return [scope for scope in Scope if scope in needed]


def can_follow_topic(principal: Principal, topic: str) -> bool:
    """Realtime topics of this feature: ``user:{id}`` (one's own), ``users`` (user directory)."""
    kind, _, ident = topic.partition(":")
    if kind == "user":
        return ident == str(principal.user_id)
    if kind == "users":
        return principal.can(Permission.users_view)
    if kind == "teams":
        return principal.can(Permission.teams_view)
    return False
