"""Accounts events (past tense, published after commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from kefu.platform.events import Event


@dataclass(frozen=True)
class UserCreated(Event):
    name: ClassVar[str] = "user.created"
    user_id: int
    email: str
    display_name: str
    role: str

    def topics(self) -> Sequence[str]:
        return ("users",)


@dataclass(frozen=True)
class UserChanged(Event):
    name: ClassVar[str] = "user.changed"
    user_id: int
    display_name: str
    role: str
    is_active: bool
    changed: tuple[str, ...]

    def topics(self) -> Sequence[str]:
        return ("users", f"user:{self.user_id}")


@dataclass(frozen=True)
class LoginsRevoked(Event):
    """Some or all browser sessions of a user ended (logout everywhere, password change, deactivation)."""

    name: ClassVar[str] = "auth.revoked"
    user_id: int
    reason: str

    def topics(self) -> Sequence[str]:
        return (f"user:{self.user_id}",)


@dataclass(frozen=True)
class TeamChanged(Event):
    name: ClassVar[str] = "team.changed"
    team_id: int
    team_name: str
    member_ids: tuple[int, ...]
    deleted: bool = False

    def topics(self) -> Sequence[str]:
        return ("teams",)
