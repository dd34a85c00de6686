"""The accounts part of the demo workspace: an admin, a supervisor, agents and their teams."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import service
from kefu.accounts.access import Role
from kefu.platform.audit import Actor

DEMO_DOMAIN = "kefu.example"


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    name: str
    email: str
    password: str


@dataclass(frozen=True)
class DemoAccounts:
    logins: list[DemoLogin]
    team_ids: dict[str, int]
    user_ids: dict[str, int]


_PEOPLE = [
    # key, name, role, teams
    ("admin", "系统管理员", Role.admin, []),
    ("supervisor", "王主管", Role.supervisor, ["presales", "aftersales", "vip"]),
    ("zhangsan", "张三", Role.agent, ["presales"]),
    ("lisi", "李四", Role.agent, ["presales", "aftersales"]),
    ("wangwu", "王五", Role.agent, ["aftersales"]),
    ("zhaoliu", "赵六", Role.agent, ["vip", "aftersales"]),
]

_TEAMS = [
    ("presales", "售前咨询", "Product questions, prices and orders before purchase (售前)."),
    ("aftersales", "售后服务", "Repairs, returns, installation and complaints after purchase (售后)."),
    ("vip", "VIP 专席", "Dedicated agents for key and VIP customers (专属客服)."),
]


def _password() -> str:
    # Readable but unguessable: the demo may be reachable from a network.
    return "-".join(secrets.token_hex(2) for _ in range(3))


async def seed(session: AsyncSession, actor: Actor) -> DemoAccounts:
    team_ids: dict[str, int] = {}
    for key, name, description in _TEAMS:
        team = await service.create_team(session, actor, name=name, description=description)
        team_ids[key] = team.id
    logins: list[DemoLogin] = []
    user_ids: dict[str, int] = {}
    for key, name, role, teams in _PEOPLE:
        password = _password()
        email = f"{key}@{DEMO_DOMAIN}"
        user = await service.create_user(
            session,
            actor,
            email=email,
            name=name,
            role=role,
            password=password,
            team_ids=[team_ids[t] for t in teams],
            locale=None,
        )
        user_ids[key] = user.id
        logins.append(DemoLogin(role, name, email, password))
    return DemoAccounts(logins, team_ids, user_ids)
