"""Accounts (SPEC J1): users, teams, roles and permissions, logins, API tokens.

Other features use only what is exported here.
"""

from kefu.accounts.access import Permission, Principal, Role, can_follow_topic
from kefu.accounts.auth import (
    SESSION_COOKIES,
    CurrentPrincipal,
    MaybePrincipal,
    authenticate_socket,
    optional_principal,
    require,
    require_principal,
)
from kefu.accounts.events import LoginsRevoked, TeamChanged, UserChanged, UserCreated
from kefu.accounts.models import Team, User
from kefu.accounts.queries import count_users_by_role, get_user, has_any_user, list_teams, users_by_ids
from kefu.accounts.service import create_user

__all__ = [
    "SESSION_COOKIES",
    "CurrentPrincipal",
    "LoginsRevoked",
    "MaybePrincipal",
    "Permission",
    "Principal",
    "Role",
    "Team",
    "TeamChanged",
    "User",
    "UserChanged",
    "UserCreated",
    "authenticate_socket",
    "can_follow_topic",
    "count_users_by_role",
    "create_user",
    "get_user",
    "has_any_user",
    "list_teams",
    "optional_principal",
    "require",
    "require_principal",
    "users_by_ids",
]
