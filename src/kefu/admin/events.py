"""Events of the admin feature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from kefu.platform.events import Event


@dataclass(frozen=True)
class WorkspaceSettingsChanged(Event):
    name: ClassVar[str] = "workspace.settings_changed"
    changed: tuple[str, ...]

    def topics(self) -> Sequence[str]:
        return ("workspace",)
