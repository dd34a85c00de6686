"""The replies part of the demo workspace: shared Chinese quick replies and two macros."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Principal, Role
from kefu.conversations import list_categories
from kefu.platform.audit import Actor
from kefu.replies import service
from kefu.replies.rules import ReplyKind

_REPLIES = [
    # shortcut, title, body, group, kind
    (
        "hi",
        "问候",
        "您好，我是客服{坐席姓名}（工号{坐席工号}），很高兴为您服务！",
        "通用",
        ReplyKind.greeting,
    ),
    (
        "bye",
        "结束语",
        "感谢您的咨询，祝您生活愉快！如有其他问题，欢迎随时联系我们。本次会话编号：{会话编号}。",
        "通用",
        ReplyKind.closing,
    ),
    ("wait", "请稍等", "好的，请您稍等，我马上为您查询。", "通用", ReplyKind.reply),
    (
        "return",
        "七天无理由退货",
        "{客户姓名}您好，商品签收后 7 天内、不影响二次销售的情况下支持无理由退货。"
        "请在“我的订单”中申请退货，审核通过后按提示寄回即可。",
        "售后",
        ReplyKind.reply,
    ),
    (
        "repair",
        "保修报修",
        "产品在保修期内出现非人为故障可免费维修。请提供订单号、故障描述和照片，我们会在 24 小时内安排。",
        "售后",
        ReplyKind.reply,
    ),
    (
        "invoice",
        "开具发票",
        "电子发票会在确认收货后 3 个工作日内发送到您的邮箱 {客户邮箱}，请注意查收。",
        "售后",
        ReplyKind.reply,
    ),
]


async def seed(
    session: AsyncSession, actor: Actor, *, user_ids: dict[str, int], team_ids: dict[str, int]
) -> None:
    # Shared items are owned by nobody; the supervisor's rights create them.
    author = Principal(
        user_id=user_ids.get("supervisor", 0), email="", name=actor.label, role=Role.supervisor, locale=None
    )
    for shortcut, title, body, group, kind in _REPLIES:
        data = service.QuickReplyInput(shortcut, title, body, group, kind.value)
        await service.create_quick_reply(session, author, data, shared=True)
    categories = {c.key: c.id for c in await list_categories(session)}
    aftersales: dict[str, object] = {"add_tags": ["售后"], "priority": "high"}
    if categories.get("repair"):
        aftersales["category_id"] = categories["repair"]
    aftersales["note"] = "已转售后处理，请跟进。"
    await service.create_macro(session, author, name="转售后并标记", actions=aftersales, shared=True)
    await service.create_macro(
        session,
        author,
        name="已解决并致谢",
        actions={"reply": "感谢您的耐心，问题已为您处理好。祝您生活愉快！", "status": "resolved"},
        shared=True,
    )
