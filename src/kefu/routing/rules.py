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


class SkillKind(StrEnum):
    skill = "skill"
    language = "language"
    product = "product"
    category = "category"


SKILL_KIND_LABELS: dict[SkillKind, str] = {
    SkillKind.skill: N_("Skill"),
    SkillKind.language: N_("Language"),
    SkillKind.product: N_("Product"),
    SkillKind.category: N_("Category"),
}

MIN_LEVEL = 1
MAX_LEVEL = 5


class AfterHours(StrEnum):
    """What a queue does with a contact that arrives while its business hours are closed."""

    offline_message = "offline_message"  # the customer leaves a message (留言); it waits for the morning
    callback = "callback"  # the customer is offered a callback request
    bot_only = "bot_only"  # only the bot answers; nobody is assigned until the queue opens
    overflow = "overflow"  # another queue (e.g. a night team) takes it


AFTER_HOURS_LABELS: dict[AfterHours, str] = {
    AfterHours.offline_message: N_("Take a message"),
    AfterHours.callback: N_("Offer a callback"),
    AfterHours.bot_only: N_("Bot only"),
    AfterHours.overflow: N_("Send to another queue"),
}

# Built-in service tiers: (key, head start in seconds). Their names live in the database.
BUILTIN_TIERS: tuple[tuple[str, int], ...] = (("vip", 900), ("key", 300), ("regular", 0))

# Seconds of head start a conversation's priority adds to its tier's.
PRIORITY_HEAD_START: dict[str, int] = {"low": -300, "normal": 0, "high": 300, "urgent": 1800}

DEFAULT_STICKY_SECONDS = 60
MAX_WAIT_SETTING = 24 * 3600  # overflow and sticky waits are at most a day
