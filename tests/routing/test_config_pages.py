"""The routing configuration pages (/admin/routing): who may open them, forms that save, forms that
refuse bad input with their message (422, never a 500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kefu.accounts import Role
from kefu.platform.kernel import Kernel
from kefu.routing import config
from tests.accounts.support import assert_html
from tests.factories import Factory, post_form

BASE = "/admin/routing"


async def login(client: httpx.AsyncClient, factory: Factory, role: Role = Role.admin) -> int:
    user = await factory.user(role, name=f"登录 {role.value}")
    await factory.login(client, user)
    return user.id


async def read(kernel: Kernel, fn: Any, *args: Any) -> Any:
    async with kernel.db.reader() as session:
        return await fn(session, *args)


async def test_every_page_renders_for_an_admin(client: httpx.AsyncClient, factory: Factory) -> None:
    me = await login(client, factory)
    team = await factory.team("售前咨询")
    for path in (
        BASE,
        f"{BASE}/channels",
        f"{BASE}/tiers",
        f"{BASE}/tiers/1",
        f"{BASE}/agents",
        f"{BASE}/agents/{me}",
        f"{BASE}/queues",
        f"{BASE}/queues/{team}",
    ):
        html = assert_html(await client.get(path), 200)
        assert 'aria-current="page"' in html, path
    admin = assert_html(await client.get("/admin"), 200)
    assert f'href="{BASE}"' in admin


@pytest.mark.parametrize("role", [Role.agent, Role.supervisor])
async def test_others_get_403_and_no_nav_entry(
    client: httpx.AsyncClient, factory: Factory, role: Role
) -> None:
    me = await login(client, factory, role)
    team = await factory.team()
    for path in (BASE, f"{BASE}/channels", f"{BASE}/tiers", f"{BASE}/agents/{me}", f"{BASE}/queues/{team}"):
        assert "Permission denied" in assert_html(await client.get(path), 403)
    response = await post_form(client, f"{BASE}/skills", {"name": "English", "kind": "skill"})
    assert response.status_code == 403
    assert f'href="{BASE}"' not in assert_html(await client.get("/admin"), 200)


async def test_nobody_logged_in_is_sent_to_the_login_page(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/queues")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_a_skill_is_added_renamed_and_deleted(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login(client, factory)
    added = await post_form(client, f"{BASE}/skills", {"name": "英语", "kind": "language", "description": ""})
    assert added.status_code == 303
    page = assert_html(await client.get(BASE), 200)
    assert "The skill 英语 was added." in page
    [skill] = await read(kernel, config.list_skills)
    assert f'href="{BASE}/skills/{skill.id}"' in page
    renamed = await post_form(
        client, f"{BASE}/skills/{skill.id}", {"name": "英语 English", "kind": "language"}
    )
    assert renamed.status_code == 303
    assert "英语 English" in assert_html(await client.get(BASE), 200)
    deleted = await post_form(client, f"{BASE}/skills/{skill.id}/delete", {})
    assert deleted.status_code == 303
    assert await read(kernel, config.list_skills) == []
    assert assert_html(await client.get(f"{BASE}/skills/{skill.id}"), 404)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "kind": "skill"}, "This field is required."),
        ({"name": "x" * 61, "kind": "skill"}, "Keep this under 60 characters."),
        ({"name": "ENGLISH", "kind": "skill"}, "A skill with this name already exists."),
        ({"name": "New", "kind": "magic"}, "Choose a kind."),
    ],
)
async def test_a_bad_skill_is_shown_with_its_message(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel, form: dict[str, str], message: str
) -> None:
    await login(client, factory)
    await post_form(client, f"{BASE}/skills", {"name": "English", "kind": "language"})
    response = await post_form(client, f"{BASE}/skills", form)
    html = assert_html(response, 422)
    assert message in html
    assert 'aria-invalid="true"' in html
    assert len(await read(kernel, config.list_skills)) == 1


async def test_channels_are_saved_and_bad_numbers_shown(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login(client, factory)
    rows = await read(kernel, config.list_channel_settings)
    form = {f"capacity_{r.channel}": str(r.default_capacity) for r in rows}
    form.update({f"weight_{r.channel}": str(r.weight) for r in rows})
    bad = await post_form(
        client, f"{BASE}/channels", {**form, "capacity_web_chat": "99", "weight_email": "很多"}
    )
    html = assert_html(bad, 422)
    assert "Enter a whole number from 0 to 50." in html
    assert "Enter a whole number." in html
    assert 'value="很多"' in html
    saved = await post_form(
        client, f"{BASE}/channels", {**form, "capacity_web_chat": "５", "weight_email": "12"}
    )
    assert saved.status_code == 303
    stored = {
        r.channel: (r.default_capacity, r.weight) for r in await read(kernel, config.list_channel_settings)
    }
    assert stored["web_chat"] == (5, 30)
    assert stored["email"] == (10, 12)
    assert 'value="5"' in assert_html(await client.get(f"{BASE}/channels"), 200)


async def test_tiers_are_added_edited_made_default_and_deleted(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login(client, factory)
    team = await factory.team("VIP 专席")
    bad = await post_form(
        client, f"{BASE}/tiers", {"key": "Gold Card", "name": "金卡", "head_start_seconds": "600"}
    )
    assert "Use 1 to 40 lowercase letters, digits, - or _." in assert_html(bad, 422)
    too_much = await post_form(
        client, f"{BASE}/tiers", {"key": "gold", "name": "金卡", "head_start_seconds": "99999"}
    )
    assert "Enter a whole number from -3600 to 86400." in assert_html(too_much, 422)
    added = await post_form(
        client,
        f"{BASE}/tiers",
        {"key": "gold", "name": "金卡", "head_start_seconds": "600", "dedicated_team_id": str(team)},
    )
    assert added.status_code == 303
    listing = assert_html(await client.get(f"{BASE}/tiers"), 200)
    assert "The tier 金卡 was added." in listing
    assert "VIP 专席" in listing
    gold = next(t for t in await read(kernel, config.list_tiers) if t.key == "gold")
    edited = await post_form(
        client,
        f"{BASE}/tiers/{gold.id}",
        {
            "key": "gold",
            "name": "金卡客户",
            "head_start_seconds": "-60",
            "dedicated_team_id": "",
            "position": "0",
        },
    )
    assert edited.status_code == 303
    gold = await read(kernel, config.get_tier, gold.id)
    assert (gold.name, gold.head_start_seconds, gold.dedicated_team_id, gold.position) == (
        "金卡客户",
        -60,
        None,
        0,
    )
    made = await post_form(client, f"{BASE}/tiers/{gold.id}/default", {})
    assert made.status_code == 303
    assert "金卡客户 is now the default tier." in assert_html(await client.get(f"{BASE}/tiers"), 200)
    # The default cannot be un-made or deleted.
    unmade = await post_form(
        client,
        f"{BASE}/tiers/{gold.id}",
        {"key": "gold", "name": "金卡客户", "head_start_seconds": "0", "position": "0"},
    )
    assert "One tier is always the default" in assert_html(unmade, 422)
    refused = await post_form(client, f"{BASE}/tiers/{gold.id}/delete", {})
    assert refused.headers["location"] == f"{BASE}/tiers/{gold.id}"
    shown = assert_html(await client.get(refused.headers["location"]), 200)
    assert "The default tier cannot be deleted; make another tier the default first." in shown
    assert "flash-error" in shown
    regular = next(t for t in await read(kernel, config.list_tiers) if t.key == "regular")
    deleted = await post_form(client, f"{BASE}/tiers/{regular.id}/delete", {})
    assert deleted.status_code == 303
    assert [t.key for t in await read(kernel, config.list_tiers)] == ["vip", "gold", "key"]


async def test_an_agents_skills_and_capacity_are_edited(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login(client, factory)
    agent = await factory.user(Role.agent, name="李四")
    await post_form(client, f"{BASE}/skills", {"name": "日语", "kind": "language"})
    await post_form(client, f"{BASE}/skills", {"name": "账单与退款", "kind": "skill"})
    japanese, billing = (s.id for s in sorted(await read(kernel, config.list_skills), key=lambda s: s.kind))
    bad = await post_form(
        client,
        f"{BASE}/agents/{agent.id}",
        {f"skill_{japanese}": "4", "capacity_web_chat": "60", "capacity_email": "x"},
    )
    html = assert_html(bad, 422)
    assert "Enter a whole number." in html
    assert (await read(kernel, config.get_agent_routing, agent.id)).levels == {}
    too_many = await post_form(
        client, f"{BASE}/agents/{agent.id}", {f"skill_{japanese}": "4", "capacity_web_chat": "60"}
    )
    assert "Enter a whole number from 0 to 50." in assert_html(too_many, 422)
    saved = await post_form(
        client,
        f"{BASE}/agents/{agent.id}",
        {f"skill_{japanese}": "4", f"skill_{billing}": "", "capacity_web_chat": "2", "capacity_email": ""},
    )
    assert saved.status_code == 303
    routing = await read(kernel, config.get_agent_routing, agent.id)
    assert routing.levels == {japanese: 4}
    assert routing.overrides == {"web_chat": 2}
    table = assert_html(await client.get(f"{BASE}/agents"), 200)
    assert "日语 · 4" in table
    assert "<strong>2</strong>" in table
    form = assert_html(await client.get(f"{BASE}/agents/{agent.id}"), 200)
    assert '<option value="4" selected>' in form
    assert 'name="capacity_web_chat" type="text" inputmode="numeric" maxlength="12" value="2"' in form


async def test_a_queue_is_configured(client: httpx.AsyncClient, factory: Factory, kernel: Kernel) -> None:
    await login(client, factory)
    presales = await factory.team("售前咨询")
    aftersales = await factory.team("售后服务")
    await post_form(client, f"{BASE}/skills", {"name": "X200 扫地机器人", "kind": "product"})
    [x200] = await read(kernel, config.list_skills)
    form = {
        "strategy": "round_robin",
        f"skill_{x200.id}": "3",
        "prefer_levels": "1",
        "overflow_team_id": str(aftersales),
        "overflow_after_seconds": "",
        "sticky_seconds": "60",
        "calendar_id": "",
        "after_hours": "offline_message",
        "after_hours_team_id": "",
    }
    missing_wait = await post_form(client, f"{BASE}/queues/{presales}", form)
    html = assert_html(missing_wait, 422)
    assert "Enter how long a contact waits before the overflow queue helps." in html
    assert '<option value="3" selected>' in html  # what was chosen stays chosen
    night = await post_form(
        client,
        f"{BASE}/queues/{presales}",
        {**form, "overflow_after_seconds": "120", "after_hours": "overflow"},
    )
    assert "Choose the queue that takes contacts after hours." in assert_html(night, 422)
    too_long = await post_form(
        client,
        f"{BASE}/queues/{presales}",
        {**form, "overflow_after_seconds": "120", "sticky_seconds": "86401"},
    )
    assert "Enter a whole number from 0 to 86400." in assert_html(too_long, 422)
    assert (await read(kernel, config.get_queue_settings, presales)).customized is False
    saved = await post_form(client, f"{BASE}/queues/{presales}", {**form, "overflow_after_seconds": "120"})
    assert saved.status_code == 303
    queue = await read(kernel, config.get_queue_settings, presales)
    assert (
        queue.strategy.value,
        queue.prefer_levels,
        queue.overflow_team_id,
        queue.overflow_after_seconds,
    ) == (
        "round_robin",
        True,
        aftersales,
        120,
    )
    assert queue.skills == {x200.id: 3}
    listing = assert_html(await client.get(f"{BASE}/queues"), 200)
    assert "X200 扫地机器人 ≥ 3" in listing
    assert "→ 售后服务 · 120 s" in listing


async def test_the_pages_speak_chinese(client: httpx.AsyncClient, factory: Factory) -> None:
    await login(client, factory)
    client.cookies.set("kefu_lang", "zh_CN")
    html = assert_html(await client.get(f"{BASE}/queues"), 200)
    assert "路由" in html
    assert "技能组" in html
