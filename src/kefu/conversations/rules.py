"""The vocabulary of conversations: statuses and their allowed transitions, priorities, authors."""

from __future__ import annotations

from enum import StrEnum

from kefu.platform.i18n import N_

NUMBER_OFFSET = 10000
NUMBER_PREFIX = "KF-"


class Status(StrEnum):
    open = "open"
    pending = "pending"  # waiting on the customer
    snoozed = "snoozed"
    resolved = "resolved"
    closed = "closed"


STATUS_LABELS: dict[Status, str] = {
    Status.open: N_("Open"),
    Status.pending: N_("Pending on customer"),
    Status.snoozed: N_("Snoozed"),
    Status.resolved: N_("Resolved"),
    Status.closed: N_("Closed"),
}

# Which status an agent may move a conversation to from each status.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.open: frozenset({Status.pending, Status.snoozed, Status.resolved, Status.closed}),
    Status.pending: frozenset({Status.open, Status.snoozed, Status.resolved, Status.closed}),
    Status.snoozed: frozenset({Status.open, Status.pending, Status.resolved, Status.closed}),
    Status.resolved: frozenset({Status.open, Status.closed}),
    Status.closed: frozenset({Status.open}),
}

# A customer writing again wakes these up; a closed conversation stays closed (the channel
# starts a new one).
REOPENED_BY_CUSTOMER = frozenset({Status.pending, Status.snoozed, Status.resolved})
ACTIVE_STATUSES = frozenset({Status.open, Status.pending, Status.snoozed})


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


PRIORITY_LABELS: dict[Priority, str] = {
    Priority.low: N_("Low"),
    Priority.normal: N_("Normal"),
    Priority.high: N_("High"),
    Priority.urgent: N_("Urgent"),
}


class AuthorKind(StrEnum):
    customer = "customer"
    agent = "agent"
    bot = "bot"
    system = "system"


class Channel(StrEnum):
    web_chat = "web_chat"
    email = "email"
    form = "form"
    phone = "phone"
    wechat = "wechat"
    api = "api"


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.web_chat: N_("Web chat"),
    Channel.email: N_("Email"),
    Channel.form: N_("Web form"),
    Channel.phone: N_("Phone"),
    Channel.wechat: N_("WeChat"),
    Channel.api: N_("API"),
}

# Built-in categories (key, name); admins rename, hide and add more.
BUILTIN_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("consultation", N_("Consultation (咨询)")),
    ("complaint", N_("Complaint (投诉)")),
    ("suggestion", N_("Suggestion (建议)")),
    ("order", N_("Order (订单)")),
    ("repair", N_("Repair (报修)")),
    ("other", N_("Other (其他)")),
)

MAX_BODY_CHARS = 10_000
MAX_TAGS = 20
MAX_TAG_CHARS = 40


def display_number(conversation_id: int) -> str:
    return f"{NUMBER_PREFIX}{conversation_id + NUMBER_OFFSET}"


def parse_number(text: str) -> int | None:
    """``KF-10234``, ``#KF-10234``, ``10234`` → the conversation id; None when it is not a number."""
    raw = text.strip().lstrip("#").upper()
    if raw.startswith(NUMBER_PREFIX):
        raw = raw[len(NUMBER_PREFIX) :]
    if not raw.isdigit() or len(raw) > 12:
        return None
    value = int(raw) - NUMBER_OFFSET
    return value if value > 0 else None
