"""The demo conversations: a realistic inbox for a newcomer, made through the real services."""

from __future__ import annotations

from sqlalchemy import func, select

from kefu.accounts import demo as accounts_demo
from kefu.conversations import demo, queries
from kefu.conversations.models import Category, Conversation, Notification
from kefu.platform.audit import Actor
from kefu.platform.kernel import Kernel


async def test_the_demo_seeds_a_working_inbox(kernel: Kernel) -> None:
    actor = Actor.system("demo")
    async with kernel.db.transaction() as session:
        people = await accounts_demo.seed(session, actor)
        await demo.seed(session, actor, user_ids=people.user_ids, team_ids=people.team_ids)
    async with kernel.db.reader() as session:
        conversations = list(await session.scalars(select(Conversation)))
        categories = await session.scalar(select(func.count()).select_from(Category))
        mentions = list(await session.scalars(select(Notification).where(Notification.kind == "mention")))
        counts = await queries.inbox_counts(session, user_id=people.user_ids["wangwu"])
    assert 6 <= len(conversations) <= 10
    assert categories == 6
    assert {c.status for c in conversations} >= {"open", "pending", "resolved"}
    assert {c.priority for c in conversations} >= {"low", "normal", "high", "urgent"}
    assert any(c.assignee_id is None and c.queue_id is not None for c in conversations)
    assert all(c.category_id is not None for c in conversations)
    assert [m.user_id for m in mentions] == [people.user_ids["lisi"]]
    assert counts["mine"] == 1
    assert counts["unassigned"] >= 3
