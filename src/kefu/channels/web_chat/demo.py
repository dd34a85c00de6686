"""The web chat part of the demo workspace: one widget for the company website."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.channels.web_chat import service
from kefu.platform.audit import Actor


async def seed(session: AsyncSession, actor: Actor, *, queue_id: int) -> str:
    """Create the "官网在线客服 · Website chat" widget; returns its public key."""
    widget = await service.create_widget(
        session,
        actor,
        service.WidgetValues(
            name="官网在线客服 · Website chat",
            title="在线客服",
            queue_id=queue_id,
            color="#1f6feb",
            locale="zh_CN",
            welcome_message="您好，欢迎咨询！请问有什么可以帮您？",
            away_message="客服暂时不在，您的消息我们已收到，会尽快回复您。",
            offline_message="现在是非工作时间。请留下您的联系方式和问题，我们上班后第一时间联系您。",
            prechat_enabled=True,
            prechat_fields=[
                {"name": "name", "label": "您的称呼", "type": "text", "required": True},
                {"name": "email", "label": "邮箱（选填）", "type": "email", "required": False},
            ],
        ),
    )
    return widget.key
