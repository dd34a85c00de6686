"""The routing part of the demo workspace: a few agents present, with status messages."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.platform.audit import Actor
from kefu.routing import service
from kefu.routing.rules import PresenceState

_PRESENCE = [
    # user key, state, status message
    ("zhangsan", PresenceState.online, "售前咨询，欢迎来聊"),
    ("lisi", PresenceState.busy, "正在处理一个复杂工单"),
    ("wangwu", PresenceState.online, ""),
    ("zhaoliu", PresenceState.away, "午休，13:30 回来"),
    ("supervisor", PresenceState.online, "今日值班主管"),
]


async def seed(
    session: AsyncSession, actor: Actor, *, user_ids: dict[str, int], team_ids: dict[str, int]
) -> None:
    # Demo agents have no open tab: the minute sweep takes them offline until they log in,
    # and their first heartbeat brings back the state seeded here.
    for key, state, message in _PRESENCE:
        if key in user_ids:
            await service.set_presence(session, user_ids[key], state, status_message=message)
