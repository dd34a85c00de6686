"""The conversations part of the demo workspace: categories and a few realistic conversations.

Some are waiting unassigned in a queue, some are being answered, one has an internal note
with an @mention, one is resolved — so a newcomer's inbox looks like a working day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.conversations import service
from kefu.conversations.models import Category
from kefu.conversations.rules import Channel, Priority, Status
from kefu.conversations.service import Author
from kefu.platform.audit import Actor
from kefu.platform.db import utcnow


@dataclass(frozen=True)
class Line:
    who: str  # "customer", an agent's key, or "note:<agent key>"
    text: str


@dataclass(frozen=True)
class Sample:
    name: str
    email: str | None
    phone: str | None
    queue: str
    channel: Channel
    lines: tuple[Line, ...]
    assignee: str | None = None
    status: Status = Status.open
    priority: Priority = Priority.normal
    category: str | None = None
    tags: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "刘洋",
        "liuyang@example.com",
        "13800138001",
        "presales",
        Channel.web_chat,
        (
            Line("customer", "你好，请问 X200 扫地机器人现在有优惠吗？"),
            Line("customer", "另外支持开发票吗？"),
        ),
        category="consultation",
        tags=("X200", "发票"),
        attributes={"来源页面": "/products/x200", "城市": "上海"},
    ),
    Sample(
        "陈静",
        "chenjing@example.com",
        None,
        "presales",
        Channel.web_chat,
        (Line("customer", "企业批量采购 50 台，能给报价单吗？"),),
        priority=Priority.high,
        category="order",
        tags=("批量采购",),
        attributes={"公司": "星河贸易有限公司"},
    ),
    Sample(
        "黄磊",
        None,
        "13900139002",
        "aftersales",
        Channel.web_chat,
        (
            Line("customer", "我的订单 20261120-8832 显示已签收，但我没收到货。"),
            Line("wangwu", "您好，我是售后王五，马上为您查询物流信息，请稍等。"),
            Line("note:wangwu", "@李四 这个快递站点上周也有类似投诉，你之前跟进过吗？"),
            Line("customer", "好的，麻烦尽快，谢谢。"),
        ),
        assignee="wangwu",
        priority=Priority.urgent,
        category="complaint",
        tags=("物流", "未收到货"),
    ),
    Sample(
        "赵敏",
        "zhaomin@example.com",
        None,
        "aftersales",
        Channel.email,
        (
            Line("customer", "空气净化器 P3 滤网指示灯一直闪烁，重置后还是一样，怎么处理？"),
            Line("lisi", "您好，请长按电源键 5 秒重置滤网计时；如仍闪烁，我们安排上门检测。"),
        ),
        assignee="lisi",
        status=Status.pending,
        category="repair",
        tags=("P3",),
    ),
    Sample(
        "孙悦",
        None,
        None,
        "vip",
        Channel.web_chat,
        (
            Line("customer", "我是 VIP 会员，想预约本周六上门安装新买的中央空调。"),
            Line("zhaoliu", "孙女士您好，周六上午 9–12 点或下午 2–5 点都可以，您方便哪个时间？"),
            Line("customer", "下午吧，谢谢！"),
        ),
        assignee="zhaoliu",
        priority=Priority.high,
        category="repair",
        tags=("安装", "VIP"),
        attributes={"会员等级": "VIP", "会员号": "V-00231"},
    ),
    Sample(
        "周杰",
        "zhoujie@example.com",
        None,
        "presales",
        Channel.web_chat,
        (
            Line("customer", "X200 和 X300 有什么区别？"),
            Line("zhangsan", "X300 多了自动集尘和拖地功能，续航也更长，详细对比我发您链接。"),
            Line("customer", "明白了，谢谢！"),
        ),
        assignee="zhangsan",
        status=Status.resolved,
        category="consultation",
    ),
    Sample(
        "吴芳",
        None,
        "13700137003",
        "aftersales",
        Channel.web_chat,
        (Line("customer", "收到的商品外包装破损，可以换货吗？"),),
        category="complaint",
        tags=("换货",),
    ),
    Sample(
        "郑凯",
        "zhengkai@example.com",
        None,
        "presales",
        Channel.web_chat,
        (Line("customer", "你们的产品支持小米米家 App 吗？"),),
        priority=Priority.low,
        category="suggestion",
    ),
)


async def seed(
    session: AsyncSession, actor: Actor, *, user_ids: dict[str, int], team_ids: dict[str, int]
) -> None:
    await service.ensure_builtin_categories(session)
    categories = {
        c.key: c.id for c in await session.scalars(select(Category).where(Category.key.is_not(None)))
    }
    for index, sample in enumerate(SAMPLES):
        await _conversation(session, actor, index, sample, user_ids, team_ids, categories)


async def _conversation(
    session: AsyncSession,
    actor: Actor,
    index: int,
    sample: Sample,
    user_ids: dict[str, int],
    team_ids: dict[str, int],
    categories: dict[str | None, int],
) -> None:
    contact = await service.resolve_contact(
        session,
        kind="demo",
        value=f"demo-contact-{index}",
        name=sample.name,
        email=sample.email,
        phone=sample.phone,
        attributes=dict(sample.attributes),
    )
    conversation = await service.open_conversation(
        session,
        channel=sample.channel,
        contact_id=contact.id,
        queue_id=team_ids.get(sample.queue),
        priority=sample.priority,
        category_id=categories.get(sample.category),
    )
    # Spread the demo over the last hours so waiting times and the order look real.
    conversation.created_at = conversation.waiting_since = utcnow() - timedelta(minutes=15 + 37 * index)
    assignee = user_ids.get(sample.assignee) if sample.assignee else None
    if assignee is not None:
        await service.assign_conversation(session, conversation.id, assignee, actor=actor)
    for line in sample.lines:
        await service.post_message(
            session,
            conversation.id,
            author=_author(line, contact.id, sample.name, user_ids),
            body=line.text,
            is_note=line.who.startswith("note:"),
        )
    if sample.tags:
        await service.update_conversation(session, conversation.id, actor=actor, tags=sample.tags)
    if sample.status is not Status.open:
        await service.change_status(session, conversation.id, sample.status, actor=actor)


AGENT_NAMES = {
    "admin": "系统管理员",
    "supervisor": "王主管",
    "zhangsan": "张三",
    "lisi": "李四",
    "wangwu": "王五",
    "zhaoliu": "赵六",
}


def _author(line: Line, contact_id: int, customer: str, user_ids: dict[str, int]) -> Author:
    if line.who == "customer":
        return Author.customer(contact_id, customer)
    key = line.who.removeprefix("note:")
    return Author.agent(user_ids[key], AGENT_NAMES.get(key, key))
