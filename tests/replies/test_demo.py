"""The demo data of routing and replies loads on top of the demo accounts."""

from __future__ import annotations

from kefu.accounts import demo as accounts_demo
from kefu.conversations import ensure_builtin_categories
from kefu.platform.audit import Actor
from kefu.platform.kernel import Kernel
from kefu.replies import demo as replies_demo
from kefu.replies import list_macros, list_quick_replies, render
from kefu.routing import PresenceState, list_presence
from kefu.routing import demo as routing_demo


async def test_demo_seeds(kernel: Kernel) -> None:
    actor = Actor.system("demo")
    async with kernel.db.transaction() as session:
        await ensure_builtin_categories(session)
        people = await accounts_demo.seed(session, actor)
        await routing_demo.seed(session, actor, user_ids=people.user_ids, team_ids=people.team_ids)
        await replies_demo.seed(session, actor, user_ids=people.user_ids, team_ids=people.team_ids)
    async with kernel.db.reader() as session:
        states = {row.name: row.state for row in await list_presence(session)}
        replies = await list_quick_replies(session, people.user_ids["zhangsan"])
        macros = await list_macros(session, people.user_ids["zhangsan"])
    assert states["张三"] is PresenceState.online
    assert states["系统管理员"] is PresenceState.offline
    greeting = next(r for r in replies if r.kind == "greeting")
    assert greeting.owner_id is None
    assert render(greeting.body, {"agent_name": "张三", "agent_id": "0003"}) == (
        "您好，我是客服张三（工号0003），很高兴为您服务！"
    )
    assert {m.name for m in macros} == {"转售后并标记", "已解决并致谢"}
