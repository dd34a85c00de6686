"""Variables in quick replies and macro texts: ``{客户姓名}`` or ``{customer_name}`` and friends.

Rendering is plain text substitution — no template engine, so a body can never run code or
reach data beyond the values below. Text in braces that is not a known variable stays as it
is (a customer may well be sent "{…}"); saving a body with such text is refused, so typos
show up when the reply is written rather than when it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from kefu.platform.errors import InvalidInput
from kefu.platform.i18n import N_


@dataclass(frozen=True)
class Variable:
    key: str
    chinese: str
    description: str

    @property
    def names(self) -> tuple[str, str]:
        return (self.chinese, self.key)


VARIABLES: tuple[Variable, ...] = (
    Variable("customer_name", "客户姓名", N_("The customer's name")),
    Variable("customer_email", "客户邮箱", N_("The customer's email address")),
    Variable("agent_name", "坐席姓名", N_("Your name")),
    Variable("agent_id", "坐席工号", N_("Your agent number (four digits, e.g. 0007)")),
    Variable("conversation_number", "会话编号", N_("The conversation number (KF-10001)")),
    Variable("date", "当前日期", N_("Today's date in the workspace time zone")),
    Variable("time", "当前时间", N_("The time now in the workspace time zone")),
)
BY_NAME: dict[str, str] = {name: v.key for v in VARIABLES for name in v.names}
PLACEHOLDER = re.compile(r"\{([^{}\s]{1,40})\}")


def unknown_variables(text: str) -> list[str]:
    """Names in braces that are no variable, in order of appearance, each once."""
    found: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name not in BY_NAME and name not in found:
            found.append(name)
    return found


def check_variables(text: str, *, field: str) -> None:
    unknown = unknown_variables(text)
    if unknown:
        raise InvalidInput(
            "Unknown variables: %(names)s. Use one of the listed variables, or remove the braces.",
            field=field,
            params={"names": ", ".join("{" + name + "}" for name in unknown)},
        )


def render(text: str, values: Mapping[str, str | None]) -> str:
    """Replace each known variable that has a value; everything else stays as typed."""

    def replace(match: re.Match[str]) -> str:
        key = BY_NAME.get(match.group(1))
        value = values.get(key) if key is not None else None
        return match.group(0) if value is None else value

    return PLACEHOLDER.sub(replace, text)


def agent_number(user_id: int) -> str:
    return f"{user_id:04d}"


def values_for(
    *,
    agent_id: int,
    agent_name: str,
    now: datetime,
    timezone: str,
    customer_name: str | None = None,
    customer_email: str | None = None,
    conversation_number: str | None = None,
) -> dict[str, str | None]:
    local = now.astimezone(ZoneInfo(timezone))
    return {
        "customer_name": customer_name,
        "customer_email": customer_email,
        "agent_name": agent_name,
        "agent_id": agent_number(agent_id),
        "conversation_number": conversation_number,
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M"),
    }
