"""The routing configuration's services: validation, audit, defaults, delete rules, and the two reads
the ACD makes (their figures and their statement counts)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import Role
from kefu.accounts import demo as accounts_demo
from kefu.accounts import service as accounts_service
from kefu.calendars import service as calendars_service
from kefu.conversations import Contact, resolve_contact
from kefu.conversations import demo as conversations_demo
from kefu.platform.audit import AuditEntry, AuditFilter, list_audit_entries
from kefu.platform.errors import Conflict, DomainError, InvalidInput, NotFound
from kefu.platform.kernel import Kernel
from kefu.routing import config
from kefu.routing import demo as routing_demo
from kefu.routing.engine import QueueRule, Strategy
from kefu.routing.models import AgentSkill, ChannelSettings, QueueSettings, QueueSkill
from kefu.routing.rules import MAX_WAIT_SETTING, AfterHours
from tests.factories import Factory
from tests.routing.support import TEST_ACTOR

SEEDED_CHANNELS = {
    "web_chat": (3, 30),
    "email": (10, 10),
    "form": (10, 10),
    "phone": (1, 100),
    "wechat": (3, 30),
    "api": (3, 30),
}


async def write(kernel: Kernel, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    async with kernel.db.transaction() as session:
        return await fn(session, TEST_ACTOR, *args, **kwargs)


async def read(kernel: Kernel, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    async with kernel.db.reader() as session:
        return await fn(session, *args, **kwargs)


async def refused(
    kernel: Kernel, error: type[DomainError], fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
) -> DomainError:
    with pytest.raises(error) as caught:
        await write(kernel, fn, *args, **kwargs)
    return caught.value


async def audit(kernel: Kernel, prefix: str = "routing.") -> list[AuditEntry]:
    async with kernel.db.reader() as session:
        return list(reversed(await list_audit_entries(session, AuditFilter(action=prefix), limit=200)))


async def skill(kernel: Kernel, name: str, kind: str = "skill") -> int:
    made = await write(kernel, config.create_skill, name=name, kind=kind)
    return int(made.id)


async def new_contact(kernel: Kernel, name: str = "刘洋") -> int:
    async with kernel.db.transaction() as session:
        contact = await resolve_contact(session, kind="test", value=f"config-{name}", name=name)
        return contact.id


async def contact_service(kernel: Kernel, contact_id: int) -> tuple[str | None, int | None]:
    async with kernel.db.reader() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None
        return contact.tier, contact.dedicated_agent_id


# -- skills ----------------------------------------------------------------------------------------
async def test_skills_are_created_renamed_and_audited(kernel: Kernel) -> None:
    english = await skill(kernel, "  English  ", "language")
    await write(kernel, config.update_skill, english, name="英语 English", description="海外客户")
    [stored] = await read(kernel, config.list_skills)
    assert (stored.name, stored.kind, stored.description) == ("英语 English", "language", "海外客户")
    actions = [(e.action, e.target_label) for e in await audit(kernel)]
    assert actions == [("routing.skill_created", "English"), ("routing.skill_changed", "英语 English")]
    # Saving the same values again changes nothing and writes no entry.
    await write(kernel, config.update_skill, english, name="英语 English", description="海外客户")
    assert len(await audit(kernel)) == 2


@pytest.mark.parametrize(
    ("values", "error", "field"),
    [
        ({"name": ""}, InvalidInput, "name"),
        ({"name": "   "}, InvalidInput, "name"),
        ({"name": "x" * 61}, InvalidInput, "name"),
        ({"name": "a\u0000b"}, InvalidInput, "name"),
        ({"name": "ENGLISH"}, Conflict, "name"),
        ({"name": "New", "kind": "superpower"}, InvalidInput, "kind"),
        ({"name": "New", "description": "d" * 201}, InvalidInput, "description"),
    ],
)
async def test_bad_skills_are_refused(
    kernel: Kernel, values: dict[str, Any], error: type[DomainError], field: str
) -> None:
    await skill(kernel, "English")
    caught = await refused(kernel, error, config.create_skill, **values)
    assert caught.extra.get("field") == field or any(e.get("field") == field for e in _errors(caught))
    assert len(await read(kernel, config.list_skills)) == 1


def _errors(error: DomainError) -> list[dict[str, Any]]:
    return error.errors if isinstance(error, InvalidInput) else []


async def test_a_rename_to_another_skills_name_is_a_conflict(kernel: Kernel) -> None:
    await skill(kernel, "English")
    japanese = await skill(kernel, "日语")
    await refused(kernel, Conflict, config.update_skill, japanese, name="english")
    await refused(kernel, NotFound, config.update_skill, 999, name="x")
    # The skill's own name in another case is fine.
    renamed = await write(kernel, config.update_skill, japanese, name="日语 Japanese")
    assert renamed.name == "日语 Japanese"


async def test_deleting_a_skill_removes_it_from_agents_and_queues(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    team = await factory.team()
    billing = await skill(kernel, "账单与退款")
    english = await skill(kernel, "English")
    await write(kernel, config.set_agent_skills, agent.id, {billing: 4, english: 2})
    await write(kernel, config.update_queue_settings, team, skills={billing: 2})
    await write(kernel, config.delete_skill, billing)
    async with kernel.db.reader() as session:
        assert list(await session.scalars(select(AgentSkill.skill_id))) == [english]
        assert list(await session.scalars(select(QueueSkill.skill_id))) == []
    entries = await audit(kernel, "routing.skill_deleted")
    assert [(e.target_label, e.details) for e in entries] == [("账单与退款", {"agents": 1, "queues": 1})]
    await refused(kernel, NotFound, config.delete_skill, billing)


# -- agents ----------------------------------------------------------------------------------------
async def test_agent_skills_are_replaced_as_a_whole(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent, name="张三")
    english = await skill(kernel, "English")
    x200 = await skill(kernel, "X200", "product")
    await write(kernel, config.set_agent_skills, agent.id, {english: 3, x200: 5})
    await write(kernel, config.set_agent_skills, agent.id, {x200: 4})
    routing = await read(kernel, config.get_agent_routing, agent.id)
    assert routing.levels == {x200: 4}
    entries = await audit(kernel, "routing.agent_skills_set")
    assert [e.details["skills"] for e in entries] == [{"English": 3, "X200": 5}, {"X200": 4}]
    assert {e.target_label for e in entries} == {"张三"}


@pytest.mark.parametrize("level", [0, 6, -1, True, 2.5, "3", None])
async def test_levels_go_from_1_to_5(kernel: Kernel, factory: Factory, level: Any) -> None:
    agent = await factory.user(Role.agent)
    english = await skill(kernel, "English")
    caught = await refused(kernel, InvalidInput, config.set_agent_skills, agent.id, {english: level})
    assert _errors(caught) == [{"field": f"skills.{english}", "message": caught.message}]
    team = await factory.team()
    await refused(kernel, InvalidInput, config.update_queue_settings, team, skills={english: level})


async def test_agent_skills_need_a_real_skill_and_user(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    english = await skill(kernel, "English")
    await refused(kernel, InvalidInput, config.set_agent_skills, agent.id, {english + 100: 3})
    await refused(kernel, NotFound, config.set_agent_skills, agent.id + 100, {english: 3})
    await refused(kernel, NotFound, config.set_agent_capacity, agent.id + 100, {"web_chat": 1})


async def test_agent_capacity_overrides_the_channel_default(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    await write(kernel, config.set_agent_capacity, agent.id, {"web_chat": 2, "email": 0, "phone": None})
    routing = await read(kernel, config.get_agent_routing, agent.id)
    assert routing.overrides == {"web_chat": 2, "email": 0}
    assert routing.capacity == {"web_chat": 2, "email": 0, "form": 10, "phone": 1, "wechat": 3, "api": 3}
    # Replacing: a channel left out (or None) goes back to the default.
    await write(kernel, config.set_agent_capacity, agent.id, {"web_chat": 1, "email": None})
    routing = await read(kernel, config.get_agent_routing, agent.id)
    assert routing.overrides == {"web_chat": 1}
    assert [e.details["capacity"] for e in await audit(kernel, "routing.agent_capacity_set")] == [
        {"email": 0, "web_chat": 2},
        {"web_chat": 1},
    ]


@pytest.mark.parametrize(
    ("capacity", "field"),
    [
        ({"web_chat": 51}, "capacity.web_chat"),
        ({"web_chat": -1}, "capacity.web_chat"),
        ({"web_chat": True}, "capacity.web_chat"),
        ({"fax": 1}, "capacity"),
    ],
)
async def test_bad_capacity_is_refused(
    kernel: Kernel, factory: Factory, capacity: dict[str, Any], field: str
) -> None:
    agent = await factory.user(Role.agent)
    caught = await refused(kernel, InvalidInput, config.set_agent_capacity, agent.id, capacity)
    assert _errors(caught)[0]["field"] == field
    assert (await read(kernel, config.get_agent_routing, agent.id)).overrides == {}


async def test_the_agent_list_holds_active_agents_only(kernel: Kernel, factory: Factory) -> None:
    active = await factory.user(Role.supervisor, name="王主管")
    gone = await factory.user(Role.agent, name="离职")
    async with kernel.db.transaction() as session:
        await accounts_service.update_user(session, TEST_ACTOR, gone.id, is_active=False)
    names = [a.user.name for a in await read(kernel, config.list_agent_routing)]
    assert names == [active.name]


# -- channels --------------------------------------------------------------------------------------
async def test_channel_settings_are_seeded_and_changed(kernel: Kernel) -> None:
    rows = await read(kernel, config.list_channel_settings)
    assert {r.channel: (r.default_capacity, r.weight) for r in rows} == SEEDED_CHANNELS
    assert [r.channel for r in rows] == ["web_chat", "email", "form", "phone", "wechat", "api"]
    await write(kernel, config.update_channel_settings, "web_chat", default_capacity=5)
    await write(kernel, config.update_channel_settings, "phone", weight=90)
    changed = {
        r.channel: (r.default_capacity, r.weight) for r in await read(kernel, config.list_channel_settings)
    }
    assert changed["web_chat"] == (5, 30)
    assert changed["phone"] == (1, 90)
    assert [e.details["changes"] for e in await audit(kernel, "routing.channel_changed")] == [
        {"default_capacity": 5},
        {"weight": 90},
    ]
    # A known channel without settings gets them.
    async with kernel.db.transaction() as session:
        await session.execute(delete(ChannelSettings).where(ChannelSettings.channel == "api"))
    api = await write(kernel, config.update_channel_settings, "api", weight=20)
    assert (api.default_capacity, api.weight) == (config.FALLBACK_CAPACITY, 20)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"default_capacity": 51}, "default_capacity"),
        ({"default_capacity": -1}, "default_capacity"),
        ({"weight": 0}, "weight"),
        ({"weight": 101}, "weight"),
    ],
)
async def test_bad_channel_settings_are_refused(kernel: Kernel, values: dict[str, int], field: str) -> None:
    caught = await refused(kernel, InvalidInput, config.update_channel_settings, "email", **values)
    assert caught.errors[0]["field"] == field if isinstance(caught, InvalidInput) else False
    await refused(kernel, NotFound, config.update_channel_settings, "fax", weight=10)
    rows = await read(kernel, config.list_channel_settings)
    assert {r.channel: (r.default_capacity, r.weight) for r in rows} == SEEDED_CHANNELS


# -- queues ----------------------------------------------------------------------------------------
async def test_a_queue_without_settings_has_the_defaults(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    queue = await read(kernel, config.get_queue_settings, team)
    assert queue == config.QueueConfig(team_id=team)
    assert (queue.strategy, queue.sticky_seconds, queue.after_hours) == (
        Strategy.least_busy,
        60,
        AfterHours.offline_message,
    )
    assert queue.customized is False
    with pytest.raises(NotFound):
        await read(kernel, config.get_queue_settings, team + 100)


async def test_queue_settings_are_saved_and_audited(kernel: Kernel, factory: Factory) -> None:
    presales = await factory.team("售前咨询")
    aftersales = await factory.team("售后服务")
    night = await factory.team("夜班")
    english = await skill(kernel, "English")
    async with kernel.db.transaction() as session:
        calendar = await calendars_service.create_calendar(
            session,
            TEST_ACTOR,
            name="Office",
            timezone="Asia/Shanghai",
            weekly_hours={"1": [["09:00", "18:00"]]},
        )
    saved = await write(
        kernel,
        config.update_queue_settings,
        presales,
        strategy="round_robin",
        prefer_levels=True,
        overflow_team_id=aftersales,
        overflow_after_seconds=120,
        sticky_seconds=300,
        calendar_id=calendar.id,
        after_hours="overflow",
        after_hours_team_id=night,
        skills={english: 2},
    )
    assert saved == await read(kernel, config.get_queue_settings, presales)
    assert (saved.strategy, saved.prefer_levels, saved.overflow_team_id, saved.overflow_after_seconds) == (
        Strategy.round_robin,
        True,
        aftersales,
        120,
    )
    assert (saved.sticky_seconds, saved.calendar_id, saved.after_hours, saved.after_hours_team_id) == (
        300,
        calendar.id,
        AfterHours.overflow,
        night,
    )
    assert saved.skills == {english: 2}
    assert saved.customized
    # Without an overflow queue the wait is dropped; without "overflow" after hours, its queue.
    plain = await write(
        kernel,
        config.update_queue_settings,
        presales,
        overflow_after_seconds=120,
        after_hours="callback",
        after_hours_team_id=night,
    )
    assert (plain.overflow_team_id, plain.overflow_after_seconds, plain.after_hours_team_id) == (
        None,
        None,
        None,
    )
    assert plain.skills == {}
    [first, second] = await audit(kernel, "routing.queue_changed")
    assert first.target_label == "售前咨询"
    assert first.details["changes"]["skills"] == {"English": 2}
    assert second.details["changes"]["after_hours"] == "callback"
    assert second.details["changes"]["skills"] == {}


async def test_saving_a_queue_keeps_its_round_robin_place(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    team = await factory.team(member_ids=[agent.id])
    await write(kernel, config.update_queue_settings, team, strategy="round_robin")
    async with kernel.db.transaction() as session:
        row = await session.get(QueueSettings, team)
        assert row is not None
        row.round_robin_last_user_id = agent.id
    await write(kernel, config.update_queue_settings, team, strategy="round_robin", sticky_seconds=0)
    async with kernel.db.reader() as session:
        row = await session.get(QueueSettings, team)
        assert row is not None
        assert (row.round_robin_last_user_id, row.sticky_seconds) == (agent.id, 0)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"strategy": "random"}, "strategy"),
        ({"after_hours": "sleep"}, "after_hours"),
        ({"sticky_seconds": -1}, "sticky_seconds"),
        ({"sticky_seconds": MAX_WAIT_SETTING + 1}, "sticky_seconds"),
        ({"overflow_team_id": "other"}, "overflow_after_seconds"),
        ({"overflow_team_id": "other", "overflow_after_seconds": -5}, "overflow_after_seconds"),
        (
            {"overflow_team_id": "other", "overflow_after_seconds": MAX_WAIT_SETTING + 1},
            "overflow_after_seconds",
        ),
        ({"overflow_team_id": "self", "overflow_after_seconds": 60}, "overflow_team_id"),
        ({"overflow_team_id": "missing", "overflow_after_seconds": 60}, "overflow_team_id"),
        ({"after_hours": "overflow"}, "after_hours_team_id"),
        ({"after_hours": "overflow", "after_hours_team_id": "self"}, "after_hours_team_id"),
        ({"after_hours": "overflow", "after_hours_team_id": "missing"}, "after_hours_team_id"),
        ({"calendar_id": 999}, "calendar_id"),
        ({"skills": {999: 2}}, "skills"),
    ],
)
async def test_bad_queue_settings_are_refused(
    kernel: Kernel, factory: Factory, values: dict[str, Any], field: str
) -> None:
    team = await factory.team()
    other = await factory.team()
    teams = {"self": team, "other": other, "missing": other + 100}
    values = {
        k: teams.get(v, v) if isinstance(v, str) and k.endswith("team_id") else v for k, v in values.items()
    }
    caught = await refused(kernel, InvalidInput, config.update_queue_settings, team, **values)
    assert _errors(caught)[0]["field"] == field
    assert (await read(kernel, config.get_queue_settings, team)).customized is False
    await refused(kernel, NotFound, config.update_queue_settings, team + 100)


async def test_a_deleted_overflow_or_after_hours_queue_reads_as_none(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    other = await factory.team()
    await write(
        kernel,
        config.update_queue_settings,
        team,
        overflow_team_id=other,
        overflow_after_seconds=30,
        after_hours="overflow",
        after_hours_team_id=other,
    )
    await write(kernel, accounts_service.delete_team, other)
    queue = await read(kernel, config.get_queue_settings, team)
    assert (queue.overflow_team_id, queue.overflow_after_seconds) == (None, None)
    assert (queue.after_hours, queue.after_hours_team_id) == (AfterHours.offline_message, None)


# -- tiers -----------------------------------------------------------------------------------------
async def test_the_built_in_tiers_are_seeded_with_regular_as_default(kernel: Kernel) -> None:
    tiers = await read(kernel, config.list_tiers)
    assert [(t.key, t.head_start_seconds, t.is_default) for t in tiers] == [
        ("vip", 900, False),
        ("key", 300, False),
        ("regular", 0, True),
    ]


async def test_tiers_are_created_changed_and_exactly_one_is_default(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team("VIP 专席")
    gold = await write(
        kernel, config.create_tier, key="gold", name="金卡", head_start_seconds=600, dedicated_team_id=team
    )
    assert (gold.position, gold.is_default, gold.dedicated_team_id) == (3, False, team)
    await write(kernel, config.update_tier, gold.id, is_default=True)
    defaults = [t.key for t in await read(kernel, config.list_tiers) if t.is_default]
    assert defaults == ["gold"]
    caught = await refused(kernel, Conflict, config.update_tier, gold.id, is_default=False)
    assert caught.extra["field"] == "is_default"
    await refused(kernel, Conflict, config.delete_tier, gold.id)
    # A new default made at creation takes over.
    await write(kernel, config.create_tier, key="basic", name="基础", is_default=True)
    assert [t.key for t in await read(kernel, config.list_tiers) if t.is_default] == ["basic"]
    # dedicated_team_id: KEEP keeps it, None removes it.
    kept = await write(kernel, config.update_tier, gold.id, head_start_seconds=-60)
    assert (kept.dedicated_team_id, kept.head_start_seconds) == (team, -60)
    cleared = await write(kernel, config.update_tier, gold.id, dedicated_team_id=None)
    assert cleared.dedicated_team_id is None
    actions = [e.action for e in await audit(kernel) if e.action.startswith("routing.tier")]
    assert actions == [
        "routing.tier_created",
        "routing.tier_changed",
        "routing.tier_created",
        "routing.tier_changed",
        "routing.tier_changed",
    ]


@pytest.mark.parametrize(
    ("values", "error", "field"),
    [
        ({"key": "Gold"}, InvalidInput, "key"),
        ({"key": "gold card"}, InvalidInput, "key"),
        ({"key": ""}, InvalidInput, "key"),
        ({"key": "g" * 41}, InvalidInput, "key"),
        ({"key": "vip"}, Conflict, "key"),
        ({"name": "vip"}, Conflict, "name"),
        ({"name": ""}, InvalidInput, "name"),
        ({"name": "n" * 61}, InvalidInput, "name"),
        ({"head_start_seconds": -3601}, InvalidInput, "head_start_seconds"),
        ({"head_start_seconds": 86401}, InvalidInput, "head_start_seconds"),
        ({"dedicated_team_id": 999}, InvalidInput, "dedicated_team_id"),
        ({"position": -1}, InvalidInput, "position"),
    ],
)
async def test_bad_tiers_are_refused(
    kernel: Kernel, values: dict[str, Any], error: type[DomainError], field: str
) -> None:
    caught = await refused(kernel, error, config.create_tier, **{"key": "gold", "name": "Gold", **values})
    assert caught.extra.get("field") == field or _errors(caught)[0]["field"] == field
    vip = (await read(kernel, config.list_tiers))[0]
    if field in {"key", "name"} and error is InvalidInput:
        await refused(kernel, error, config.update_tier, vip.id, **{field: values[field]})
    assert len(await read(kernel, config.list_tiers)) == 3


async def test_the_extreme_head_starts_are_allowed(kernel: Kernel) -> None:
    low = await write(kernel, config.create_tier, key="low", name="Low", head_start_seconds=-3600)
    high = await write(kernel, config.create_tier, key="high", name="High", head_start_seconds=86400)
    assert (low.head_start_seconds, high.head_start_seconds) == (-3600, 86400)


async def test_deleting_a_tier_moves_its_contacts_to_the_default(kernel: Kernel) -> None:
    gold = await write(kernel, config.create_tier, key="gold", name="Gold")
    member = await new_contact(kernel, "陈静")
    other = await new_contact(kernel, "黄磊")
    await write(kernel, config.set_contact_service, member, tier="gold", dedicated_agent_id=None)
    await write(kernel, config.set_contact_service, other, tier="vip", dedicated_agent_id=None)
    moved = await write(kernel, config.delete_tier, gold.id)
    assert moved == 1
    assert await contact_service(kernel, member) == (None, None)
    assert await contact_service(kernel, other) == ("vip", None)
    [entry] = await audit(kernel, "routing.tier_deleted")
    assert entry.details == {"key": "gold", "contacts": 1}
    await refused(kernel, NotFound, config.delete_tier, gold.id)


async def test_a_new_key_moves_the_tiers_contacts(kernel: Kernel) -> None:
    vip = (await read(kernel, config.list_tiers))[0]
    contact = await new_contact(kernel)
    await write(kernel, config.set_contact_service, contact, tier="vip", dedicated_agent_id=None)
    await write(kernel, config.update_tier, vip.id, key="svip")
    assert await contact_service(kernel, contact) == ("svip", None)
    await refused(kernel, Conflict, config.update_tier, vip.id, key="regular")


# -- a contact's service ---------------------------------------------------------------------------------
async def test_a_contact_gets_a_tier_and_a_dedicated_agent(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent, name="赵六")
    contact = await new_contact(kernel, "陈静")
    await write(kernel, config.set_contact_service, contact, tier="vip", dedicated_agent_id=agent.id)
    assert await contact_service(kernel, contact) == ("vip", agent.id)
    [entry] = await audit(kernel, "contact.")
    assert (entry.action, entry.target_label) == ("contact.service_changed", "陈静")
    assert entry.details["changes"] == {"tier": [None, "vip"], "dedicated_agent_id": [None, agent.id]}
    await write(kernel, config.set_contact_service, contact, tier=None, dedicated_agent_id=None)
    assert await contact_service(kernel, contact) == (None, None)


async def test_bad_contact_service_is_refused(kernel: Kernel, factory: Factory) -> None:
    contact = await new_contact(kernel)
    gone = await factory.user(Role.agent)
    async with kernel.db.transaction() as session:
        await accounts_service.update_user(session, TEST_ACTOR, gone.id, is_active=False)
    for tier in ("gold", "VIP", "v i p"):
        caught = await refused(
            kernel, InvalidInput, config.set_contact_service, contact, tier=tier, dedicated_agent_id=None
        )
        assert _errors(caught)[0]["field"] == "tier"
    for agent_id in (gone.id, gone.id + 100):
        caught = await refused(
            kernel, InvalidInput, config.set_contact_service, contact, tier=None, dedicated_agent_id=agent_id
        )
        assert _errors(caught)[0]["field"] == "dedicated_agent_id"
    await refused(
        kernel, NotFound, config.set_contact_service, contact + 100, tier=None, dedicated_agent_id=None
    )
    assert await contact_service(kernel, contact) == (None, None)


# -- what the ACD reads ----------------------------------------------------------------------------------
async def _centre(kernel: Kernel, factory: Factory, agents: int = 3) -> dict[str, Any]:
    english = await skill(kernel, "English", "language")
    billing = await skill(kernel, "账单与退款")
    people = [await factory.user(Role.agent) for _ in range(agents)]
    presales = await factory.team("售前", [p.id for p in people])
    aftersales = await factory.team("售后", [p.id for p in people])
    await write(
        kernel,
        config.update_queue_settings,
        presales,
        strategy="round_robin",
        overflow_team_id=aftersales,
        overflow_after_seconds=120,
        sticky_seconds=30,
        skills={english: 2},
    )
    await write(
        kernel,
        config.update_queue_settings,
        aftersales,
        strategy="least_busy",
        prefer_levels=True,
        skills={billing: 3, english: 1},
    )
    for person in people:
        await write(kernel, config.set_agent_skills, person.id, {english: 4, billing: 2})
    await write(kernel, config.set_agent_capacity, people[0].id, {"web_chat": 1})
    await write(kernel, config.update_channel_settings, "email", weight=15)
    return {"presales": presales, "aftersales": aftersales, "people": [p.id for p in people]}


async def test_load_routing_config_gives_the_engine_its_rules(kernel: Kernel, factory: Factory) -> None:
    centre = await _centre(kernel, factory)
    presales, aftersales = centre["presales"], centre["aftersales"]
    loaded = await read(kernel, config.load_routing_config)
    assert loaded.rules[presales] == QueueRule(
        id=presales,
        strategy=Strategy.round_robin,
        skills={"English": 2},
        prefer_levels=False,
        overflow_to=aftersales,
        overflow_after=120.0,
    )
    assert loaded.rules[aftersales] == QueueRule(
        id=aftersales,
        strategy=Strategy.least_busy,
        skills={"账单与退款": 3, "English": 1},
        prefer_levels=True,
    )
    assert loaded.options(presales).sticky_seconds == 30
    assert loaded.sticky_seconds(aftersales) == 60
    assert loaded.options(presales) == config.QueueOptions(sticky_seconds=30)
    assert loaded.rule(999) == QueueRule(999)
    assert loaded.options(999) == config.QueueOptions()
    assert dict(loaded.weights) == {
        "web_chat": 30,
        "email": 15,
        "form": 10,
        "phone": 100,
        "wechat": 30,
        "api": 30,
    }
    assert dict(loaded.default_capacity) == {k: cap for k, (cap, _) in SEEDED_CHANNELS.items()}
    assert dict(loaded.tiers) == {"vip": (900, None), "key": (300, None), "regular": (0, None)}
    assert loaded.default_tier == "regular"
    assert loaded.tier("vip") == (900, None)
    assert loaded.tier(None) == loaded.tier("gone") == (0, None)
    with pytest.raises(TypeError):
        loaded.rules[1] = QueueRule(1)  # type: ignore[index]  # proving the mapping is read-only


async def test_agent_profiles_name_skills_and_apply_default_capacity(
    kernel: Kernel, factory: Factory
) -> None:
    centre = await _centre(kernel, factory)
    first, second, _ = centre["people"]
    stranger = await factory.user(Role.agent)
    profiles = await read(kernel, config.agent_profiles, [first, second, stranger.id])
    assert set(profiles) == {first, second, stranger.id}
    skills, capacity = profiles[first]
    assert dict(skills) == {"English": 4, "账单与退款": 2}
    assert dict(capacity) == {"web_chat": 1, "email": 10, "form": 10, "phone": 1, "wechat": 3, "api": 3}
    assert dict(profiles[second].capacity)["web_chat"] == 3
    assert dict(profiles[stranger.id].skills) == {}
    assert await read(kernel, config.agent_profiles, []) == {}


async def _selects(kernel: Kernel, work: Callable[[AsyncSession], Awaitable[Any]]) -> list[str]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = kernel.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with kernel.db.reader() as session:
            await work(session)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


@pytest.mark.parametrize("agents", [2, 12])
async def test_the_reads_cost_a_fixed_number_of_statements(
    kernel: Kernel, factory: Factory, agents: int
) -> None:
    centre = await _centre(kernel, factory, agents)
    people = centre["people"]

    async def both(session: AsyncSession) -> None:
        loaded = await config.load_routing_config(session)
        await config.agent_profiles(session, people, default_capacity=loaded.default_capacity)

    assert len(await _selects(kernel, config.load_routing_config)) <= 4
    assert len(await _selects(kernel, lambda s: config.agent_profiles(s, people))) <= 3
    assert len(await _selects(kernel, both)) <= 6


# -- the demo ------------------------------------------------------------------------------------------
async def test_the_demo_configures_routing_and_a_vip_customer(kernel: Kernel) -> None:
    async with kernel.db.transaction() as session:
        people = await accounts_demo.seed(session, TEST_ACTOR)
        ids = {"user_ids": people.user_ids, "team_ids": people.team_ids}
        await routing_demo.seed(session, TEST_ACTOR, **ids)
        await conversations_demo.seed(session, TEST_ACTOR, **ids)
        await routing_demo.seed_contacts(session, TEST_ACTOR, user_ids=people.user_ids)
    teams, users = people.team_ids, people.user_ids
    loaded = await read(kernel, config.load_routing_config)
    presales = loaded.rule(teams["presales"])
    assert (presales.strategy, presales.overflow_to, presales.overflow_after) == (
        Strategy.round_robin,
        teams["aftersales"],
        120.0,
    )
    aftersales = loaded.rule(teams["aftersales"])
    assert aftersales.strategy is Strategy.longest_idle
    assert aftersales.skills == {"退换货与维修": 2}
    # Every member of after-sales (accounts' demo) can take its contacts.
    profiles = await read(kernel, config.agent_profiles, list(users.values()))
    for key in ("supervisor", "lisi", "wangwu", "zhaoliu"):
        assert profiles[users[key]].skills.get("退换货与维修", 0) >= 2, key
    assert profiles[users["lisi"]].capacity["web_chat"] == 2
    assert profiles[users["zhangsan"]].capacity["web_chat"] == 3
    assert loaded.tier("vip") == (900, teams["vip"])
    async with kernel.db.reader() as session:
        vip = (await session.scalars(select(Contact).where(Contact.tier == "vip"))).all()
    assert [(c.name, c.dedicated_agent_id) for c in vip] == [("陈静", users["zhaoliu"])]
