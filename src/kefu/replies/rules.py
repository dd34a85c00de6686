"""The vocabulary of quick replies and macros: kinds, shortcuts, macro actions."""

from __future__ import annotations

import re
from enum import StrEnum

from kefu.platform.i18n import N_


class ReplyKind(StrEnum):
    reply = "reply"
    greeting = "greeting"  # 问候语: offered first when a conversation starts
    closing = "closing"  # 结束语: offered when wrapping up


KIND_LABELS: dict[ReplyKind, str] = {
    ReplyKind.reply: N_("Reply"),
    ReplyKind.greeting: N_("Greeting"),
    ReplyKind.closing: N_("Closing"),
}

SHORTCUT = re.compile(r"^[a-z0-9_-]{1,40}$")
MAX_BODY = 5000
MAX_TITLE = 100
MAX_GROUP = 60
MAX_MACRO_NAME = 100

# Macro actions, in the order they are applied (the status change last, so a reply is sent
# before the conversation is resolved).
ACTION_LABELS: dict[str, str] = {
    "priority": N_("Set priority"),
    "category_id": N_("Set category"),
    "add_tags": N_("Add tags"),
    "remove_tags": N_("Remove tags"),
    "reply": N_("Send a reply"),
    "note": N_("Write an internal note"),
    "status": N_("Change status"),
}
