"""Routing events (past tense, published after commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from kefu.platform.events import Event


@dataclass(frozen=True)
class PresenceChanged(Event):
    """An agent's presence changed (by themselves, or automatically by the system)."""

    name: ClassVar[str] = "presence.changed"
    user_id: int
    display_name: str
    state: str
    status_message: str
    automatic: bool

    def topics(self) -> Sequence[str]:
        return ("presence", f"user:{self.user_id}")


@dataclass(frozen=True)
class RoutingChanged(Event):
    """Routing configuration that may let someone take a waiting conversation changed: an agent's
    skills or capacity (``user_id``), or a queue's or channel's settings (``user_id`` None)."""

    name: ClassVar[str] = "routing.changed"
    user_id: int | None = None
