"""The demo workspace `kefu serve` creates on an empty database, so a newcomer sees kefu work.

Every feature adds its part here (through its own ``demo`` module), in dependency order.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from kefu.accounts import demo as accounts_demo
from kefu.accounts import has_any_user
from kefu.accounts.demo import DemoLogin
from kefu.admin import service as admin_service
from kefu.calendars import demo as calendars_demo
from kefu.channels.web_chat import demo as web_chat_demo
from kefu.conversations import demo as conversations_demo
from kefu.platform.audit import Actor
from kefu.platform.db import Database
from kefu.replies import demo as replies_demo
from kefu.routing import demo as routing_demo
from kefu.routing import sla
from kefu.settings import Settings

LOGINS_FILE = "demo-logins.txt"
DEMO_COMPANY = "示例科技 · Demo Co."


@dataclass(frozen=True)
class DemoResult:
    created: bool
    logins: list[DemoLogin]


async def seed_if_empty(settings: Settings) -> DemoResult:
    """Create the demo company unless the database already has users."""
    db = Database(settings.db_url)
    try:
        async with db.reader() as session:
            if await has_any_user(session):
                return DemoResult(False, [])
        try:
            logins = await _seed(db)
        except IntegrityError:
            return DemoResult(False, [])  # another node seeded it at the same moment
    finally:
        await db.dispose()
    write_logins(settings.data_dir, logins)
    return DemoResult(True, logins)


async def _seed(db: Database) -> list[DemoLogin]:
    actor = Actor.system("demo")
    async with db.transaction() as session:
        calendars = await calendars_demo.seed(session, actor)
        await admin_service.update_workspace_settings(
            session,
            actor,
            name=DEMO_COMPANY,
            timezone="Asia/Shanghai",
            default_calendar_id=calendars.default_id,
        )
        people = await accounts_demo.seed(session, actor)
        ids = {"user_ids": people.user_ids, "team_ids": people.team_ids}
        await routing_demo.seed(session, actor, **ids)
        await conversations_demo.seed(session, actor, **ids)  # also the built-in categories macros use
        await routing_demo.seed_contacts(
            session, actor, user_ids=people.user_ids
        )  # a VIP with a dedicated agent
        await sla.seed_sla(session, actor)  # SLA policies, and clocks for the waiting demo conversations
        await replies_demo.seed(session, actor, **ids)
        await web_chat_demo.seed(session, actor, queue_id=people.team_ids["presales"])
    return people.logins


def write_logins(data_dir: Path, logins: list[DemoLogin]) -> Path:
    path = data_dir / LOGINS_FILE
    lines = ["# kefu demo logins (created on first start; change or delete these users before real use)"]
    lines += [f"{login.role.value:<11} {login.email:<28} {login.password}   {login.name}" for login in logins]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
