"""The routing part of the demo workspace: presence, skills and levels, capacity, queue settings,
and (once the demo conversations exist, :func:`seed_contacts`) a VIP customer with a dedicated agent."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations import Contact
from kefu.platform.audit import Actor
from kefu.routing import config, service
from kefu.routing.engine import Strategy
from kefu.routing.rules import PresenceState, SkillKind

_PRESENCE = [
    # user key, state, status message
    ("zhangsan", PresenceState.online, "售前咨询，欢迎来聊"),
    ("lisi", PresenceState.busy, "正在处理一个复杂工单"),
    ("wangwu", PresenceState.online, ""),
    ("zhaoliu", PresenceState.away, "午休，13:30 回来"),
    ("supervisor", PresenceState.online, "今日值班主管"),
]

_SKILLS = [
    # key, name, kind, description
    ("english", "英语 English", SkillKind.language, "用英语接待海外客户"),
    ("japanese", "日语", SkillKind.language, "用日语接待客户"),
    ("billing", "账单与退款", SkillKind.skill, "发票、退款、分期和对账"),
    ("aftersales", "退换货与维修", SkillKind.skill, "退货、换货、上门维修和安装"),
    ("x200", "X200 扫地机器人", SkillKind.product, "X200 系列的功能、配件和常见故障"),
]

_LEVELS = {
    # user key -> {skill key: level 1–5}
    "supervisor": {"english": 4, "billing": 5, "aftersales": 4, "x200": 4},
    "zhangsan": {"english": 3, "x200": 5},
    "lisi": {"japanese": 4, "billing": 3, "aftersales": 2, "x200": 3},
    "wangwu": {"billing": 4, "aftersales": 5},
    "zhaoliu": {"english": 5, "billing": 3, "aftersales": 3},
}

# 李四 works both queues and takes two chats at once instead of the channel's three.
_CAPACITY = {"lisi": {"web_chat": 2}}

OVERFLOW_AFTER_SECONDS = 120
VIP_CONTACT_EMAIL = "chenjing@example.com"  # 陈静 of the conversations demo (企业批量采购)


async def seed(
    session: AsyncSession, actor: Actor, *, user_ids: dict[str, int], team_ids: dict[str, int]
) -> None:
    # Demo agents have no open tab: the minute sweep takes them offline until they log in,
    # and their first heartbeat brings back the state seeded here.
    for key, state, message in _PRESENCE:
        if key in user_ids:
            await service.set_presence(session, user_ids[key], state, status_message=message)
    skill_ids: dict[str, int] = {}
    for key, name, kind, description in _SKILLS:
        skill = await config.create_skill(session, actor, name=name, kind=kind.value, description=description)
        skill_ids[key] = skill.id
    for user_key, levels in _LEVELS.items():
        if user_key in user_ids:
            await config.set_agent_skills(
                session, actor, user_ids[user_key], {skill_ids[k]: level for k, level in levels.items()}
            )
    for user_key, capacity in _CAPACITY.items():
        if user_key in user_ids:
            await config.set_agent_capacity(session, actor, user_ids[user_key], dict(capacity))
    await _seed_queues(session, actor, team_ids, skill_ids)


async def _seed_queues(
    session: AsyncSession, actor: Actor, team_ids: dict[str, int], skill_ids: dict[str, int]
) -> None:
    presales, aftersales, vip = (team_ids.get(k) for k in ("presales", "aftersales", "vip"))
    if presales is not None:
        # Pre-sales takes turns; after two minutes after-sales colleagues may help.
        await config.update_queue_settings(
            session,
            actor,
            presales,
            strategy=Strategy.round_robin.value,
            overflow_team_id=aftersales,
            overflow_after_seconds=OVERFLOW_AFTER_SECONDS if aftersales is not None else None,
        )
    if aftersales is not None:
        # After-sales: whoever waited longest, among those who know returns and repairs.
        await config.update_queue_settings(
            session,
            actor,
            aftersales,
            strategy=Strategy.longest_idle.value,
            skills={skill_ids["aftersales"]: 2},
        )
    if vip is not None:
        # VIP 专席: the least busy agent, the most skilled first; VIP customers go there.
        await config.update_queue_settings(
            session, actor, vip, strategy=Strategy.least_busy.value, prefer_levels=True, sticky_seconds=300
        )
        for tier in await config.list_tiers(session):
            if tier.key == "vip":
                await config.update_tier(session, actor, tier.id, dedicated_team_id=vip)


async def seed_contacts(session: AsyncSession, actor: Actor, *, user_ids: dict[str, int]) -> None:
    """After the conversations demo: 陈静 (an enterprise buyer) is a VIP, with 赵六 as her
    dedicated agent (专属客服). Does nothing when that contact or agent is not there."""
    contact_id = await session.scalar(
        select(Contact.id).where(Contact.email == VIP_CONTACT_EMAIL).order_by(Contact.id).limit(1)
    )
    agent_id = user_ids.get("zhaoliu")
    if contact_id is None or agent_id is None:
        return
    tiers = {tier.key for tier in await config.list_tiers(session)}
    await config.set_contact_service(
        session,
        actor,
        contact_id,
        tier="vip" if "vip" in tiers else None,
        dedicated_agent_id=agent_id,
    )
