"""Routing (SPEC B1–B6, C4): agent presence, the ACD that assigns waiting conversations (skills,
tiers, capacity, strategies, overflow), auto-replies when nobody can answer."""

from kefu.routing.assignment import assign_waiting, serve_agent
from kefu.routing.events import PresenceChanged
from kefu.routing.hours import QueueHours, queue_hours
from kefu.routing.models import AgentPresence
from kefu.routing.position import LINE_LIMIT, Position, not_waiting, positions, queue_position
from kefu.routing.queries import PresenceRow, anyone_available, available_agents, list_presence
from kefu.routing.rules import PRESENCE_LABELS, AfterHours, PresenceState
from kefu.routing.service import record_heartbeat, set_presence

__all__ = [
    "LINE_LIMIT",
    "PRESENCE_LABELS",
    "AfterHours",
    "AgentPresence",
    "Position",
    "PresenceChanged",
    "PresenceRow",
    "PresenceState",
    "QueueHours",
    "anyone_available",
    "assign_waiting",
    "available_agents",
    "list_presence",
    "not_waiting",
    "positions",
    "queue_hours",
    "queue_position",
    "record_heartbeat",
    "serve_agent",
    "set_presence",
]
