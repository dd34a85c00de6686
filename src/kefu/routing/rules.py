"""The vocabulary of presence: states, their labels, and when the system steps in."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from kefu.platform.i18n import N_


class PresenceState(StrEnum):
    online = "online"
    busy = "busy"
    away = "away"
    after_call = "after_call"
    offline = "offline"


PRESENCE_LABELS: dict[PresenceState, str] = {
    PresenceState.online: N_("Online"),
    PresenceState.busy: N_("Busy"),
    PresenceState.away: N_("Away"),
    PresenceState.after_call: N_("After-call work"),
    PresenceState.offline: N_("Offline"),
}

# No heartbeat for this long means the agent's last tab is gone: they go offline.
HEARTBEAT_TIMEOUT = timedelta(seconds=90)
MAX_STATUS_MESSAGE = 140
