"""Routing (SPEC C4 presence now; the full ACD of B1–B6 grows here): agent presence, the
assignment of waiting conversations, auto-replies when nobody can answer."""

from kefu.routing.assignment import Assigner, LeastOpenAssigner
from kefu.routing.events import PresenceChanged
from kefu.routing.models import AgentPresence
from kefu.routing.queries import PresenceRow, anyone_available, available_agents, list_presence
from kefu.routing.rules import PRESENCE_LABELS, PresenceState
from kefu.routing.service import record_heartbeat, set_presence

__all__ = [
    "PRESENCE_LABELS",
    "AgentPresence",
    "Assigner",
    "LeastOpenAssigner",
    "PresenceChanged",
    "PresenceRow",
    "PresenceState",
    "anyone_available",
    "available_agents",
    "list_presence",
    "record_heartbeat",
    "set_presence",
]
