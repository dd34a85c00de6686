"""SLA policies and clocks: matching, business-hours due times, pauses, the three targets, warnings
and breaches once, escalation actions, several nodes at once, the event handlers and the inbox."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, update

from kefu.accounts import Role, User
from kefu.admin import service as admin_service
from kefu.calendars import service as calendars_service
from kefu.conversations import (
    Author,
    Channel,
    Conversation,
    Priority,
    Status,
    assign_conversation,
    change_status,
    ensure_builtin_categories,
    list_categories,
    open_conversation,
    post_message,
    resolve_contact,
    transfer_conversation,
    update_conversation,
)
from kefu.conversations.models import Notification
from kefu.platform.audit import AuditEntry
from kefu.platform.errors import Conflict, InvalidInput
from kefu.platform.kernel import Kernel
from kefu.routing import PresenceState, sla
from kefu.routing.models import ConversationSla, SlaPolicy
from tests.factories import Factory
from tests.routing.support import TEST_ACTOR, Recorder, assignee, presence

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
_visitors = iter(range(1, 10_000))


@pytest.fixture(autouse=True)
def clocks_by_hand(kernel: Kernel, request: pytest.FixtureRequest) -> None:
    """These tests move the clocks by hand (``sync`` at a chosen moment); the handlers the app
    registered would also move them at the real now in between, so they are taken out here —
    except for the test of the handlers themselves."""
    if request.node.name.startswith("test_the_event_handlers_run_the_clocks"):
        return
    for handlers in kernel.dispatcher._handlers.values():  # a test detaching the app's handlers
        handlers[:] = [h for h in handlers if getattr(h, "__module__", "") != sla.__name__]


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A wall-clock time in Shanghai in 2026 (23 November is a Monday), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


async def office_hours(kernel: Kernel) -> int:
    """Monday to Friday, 9:00–18:00 in Shanghai."""
    async with kernel.db.transaction() as session:
        calendar = await calendars_service.create_calendar(
            session,
            TEST_ACTOR,
            name="Office 9–18",
            timezone="Asia/Shanghai",
            weekly_hours={str(day): [["09:00", "18:00"]] for day in range(1, 6)},
        )
        return calendar.id


async def policy(kernel: Kernel, name: str = "Standard", **values: Any) -> SlaPolicy:
    async with kernel.db.transaction() as session:
        return await sla.create_policy(session, TEST_ACTOR, name=name, **values)


async def conversation(
    kernel: Kernel,
    *,
    created_at: datetime | None = None,
    queue_id: int | None = None,
    priority: Priority = Priority.normal,
    tier: str | None = None,
    channel: Channel = Channel.web_chat,
) -> int:
    async with kernel.db.transaction() as session:
        n = next(_visitors)
        contact = await resolve_contact(session, kind="sla-test", value=f"v{n}", name=f"客户 {n}")
        contact.tier = tier
        made = await open_conversation(
            session, channel=channel, contact_id=contact.id, queue_id=queue_id, priority=priority
        )
        if created_at is not None:
            made.created_at = created_at
        return made.id


async def sync(kernel: Kernel, conversation_id: int, now: datetime) -> ConversationSla | None:
    async with kernel.db.transaction() as session:
        return await sla.sync_clocks(session, conversation_id, now=now)


async def clocks(kernel: Kernel, conversation_id: int) -> ConversationSla | None:
    async with kernel.db.reader() as session:
        return await session.get(ConversationSla, conversation_id)


async def shown(kernel: Kernel, conversation_id: int) -> tuple[datetime | None, str]:
    async with kernel.db.reader() as session:
        row = (
            await session.execute(
                select(Conversation.sla_due_at, Conversation.sla_state).where(
                    Conversation.id == conversation_id
                )
            )
        ).one()
        return row[0], row[1]


async def status(kernel: Kernel, conversation_id: int, to: Status, **kwargs: Any) -> None:
    async with kernel.db.transaction() as session:
        await change_status(session, conversation_id, to, actor=TEST_ACTOR, **kwargs)


async def say(
    kernel: Kernel, conversation_id: int, author: Author, body: str = "你好", **kwargs: Any
) -> None:
    async with kernel.db.transaction() as session:
        await post_message(session, conversation_id, author=author, body=body, **kwargs)


async def customer(kernel: Kernel, conversation_id: int) -> Author:
    async with kernel.db.reader() as session:
        contact_id = await session.scalar(
            select(Conversation.contact_id).where(Conversation.id == conversation_id)
        )
        assert contact_id is not None
        return Author.customer(contact_id, "客户")


async def category_id(kernel: Kernel, key: str) -> int:
    async with kernel.db.transaction() as session:
        await ensure_builtin_categories(session)
        return next(c.id for c in await list_categories(session) if c.key == key)


# -- policies ----------------------------------------------------------------------------------------
async def test_the_first_active_policy_by_position_that_matches_applies(kernel: Kernel) -> None:
    complaint = await category_id(kernel, "complaint")
    await policy(kernel, "Everyone", position=9, first_response_minutes=30)
    await policy(kernel, "VIP", position=1, tiers=["vip"], first_response_minutes=2)
    await policy(kernel, "Complaints", position=2, category_ids=[complaint], first_response_minutes=10)
    await policy(
        kernel, "Urgent email", position=3, priorities=["urgent"], channels=["email"], resolution_minutes=60
    )
    await policy(
        kernel, "Regular tier, off", position=0, tiers=["regular"], first_response_minutes=1, is_active=False
    )

    async def match(**attrs: Any) -> str | None:
        values = {"tier": None, "priority": "normal", "category_id": None, "channel": "web_chat", **attrs}
        async with kernel.db.reader() as session:
            found = await sla.match_policy(session, **values)
            return found.name if found else None

    assert await match(tier="vip", category_id=complaint) == "VIP"  # position 1 before 2
    assert await match(category_id=complaint) == "Complaints"
    assert await match(priority="urgent", channel="email") == "Urgent email"
    assert await match(priority="urgent", channel="web_chat") == "Everyone"  # every list must match
    assert await match() == "Everyone"  # the inactive policy for the default tier is skipped
    async with kernel.db.transaction() as session:
        regular = (await sla.list_policies(session))[0]
        assert regular.name == "Regular tier, off"
        await sla.update_policy(session, TEST_ACTOR, regular.id, is_active=True)
    assert await match() == "Regular tier, off"  # no tier on the contact: the default tier (regular)
    assert await match(tier="key") == "Everyone"


async def test_bad_policies_are_refused_with_the_field_named(kernel: Kernel) -> None:
    await policy(kernel, "Standard", first_response_minutes=30)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": "  "}, "name"),
        ({"first_response_minutes": 0}, "first_response_minutes"),
        ({"resolution_minutes": sla.MAX_TARGET_MINUTES + 1}, "resolution_minutes"),
        ({"first_response_minutes": None}, "first_response_minutes"),  # no target at all
        ({"tiers": ["gold"]}, "tiers"),
        ({"priorities": ["asap"]}, "priorities"),
        ({"category_ids": [99_999]}, "category_ids"),
        ({"channels": ["fax"]}, "channels"),
        ({"calendar_id": 99_999}, "calendar_id"),
        ({"warn_percent": 100}, "warn_percent"),
        ({"escalation": {"call_the_boss": True}}, "escalation"),
        ({"position": -1}, "position"),
    ]
    for values, field in bad:
        arguments = {"name": "Another", "first_response_minutes": 30, **values}
        with pytest.raises(InvalidInput) as refused:
            async with kernel.db.transaction() as session:
                await sla.create_policy(session, TEST_ACTOR, **arguments)
        assert refused.value.errors[0]["field"] == field, values
    with pytest.raises(Conflict):
        await policy(kernel, "standard", first_response_minutes=5)
    async with kernel.db.reader() as session:
        assert [p.name for p in await sla.list_policies(session)] == ["Standard"]
        actions = list(
            await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("sla.%")))
        )
    assert actions == ["sla.policy_created"]


# -- due times in business hours -------------------------------------------------------------------
async def test_due_times_count_business_hours_only(kernel: Kernel) -> None:
    office = await office_hours(kernel)
    await policy(kernel, first_response_minutes=30, resolution_minutes=600, calendar_id=office)
    monday = await conversation(kernel, created_at=local(23, 17, 50))
    row = await sync(kernel, monday, now=local(23, 17, 50))
    assert row is not None
    assert row.first_response_due_at == local(24, 9, 20)  # 10 minutes on Monday, 20 on Tuesday
    assert row.resolution_due_at == local(25, 9, 50)  # 10 min + 9 h on Tuesday + 50 min on Wednesday
    friday = await conversation(kernel, created_at=local(27, 17, 50))
    row = await sync(kernel, friday, now=local(27, 17, 50))
    assert row is not None
    assert row.first_response_due_at == local(30, 9, 20)
    at_night = await conversation(kernel, created_at=local(24, 22, 0))
    row = await sync(kernel, at_night, now=local(24, 22, 0))
    assert row is not None
    assert row.first_response_due_at == local(25, 9, 30)
    assert await shown(kernel, monday) == (local(24, 9, 20), "ok")


async def test_the_workspace_calendar_applies_and_without_one_the_clock_never_stops(kernel: Kernel) -> None:
    await policy(kernel, first_response_minutes=30)
    first = await conversation(kernel, created_at=local(23, 17, 50))
    row = await sync(kernel, first, now=local(23, 17, 50))
    assert row is not None
    assert row.first_response_due_at == local(23, 18, 20)
    office = await office_hours(kernel)
    async with kernel.db.transaction() as session:
        await admin_service.update_workspace_settings(session, TEST_ACTOR, default_calendar_id=office)
    row = await sync(kernel, first, now=local(23, 17, 55))
    assert row is not None
    assert row.first_response_due_at == local(24, 9, 20)


# -- pauses ----------------------------------------------------------------------------------------
async def test_pending_and_snoozed_pause_the_clocks_and_push_the_due_time_back(kernel: Kernel) -> None:
    office = await office_hours(kernel)
    await policy(kernel, first_response_minutes=60, resolution_minutes=240, calendar_id=office)
    made = await conversation(kernel, created_at=local(23, 10, 0))
    row = await sync(kernel, made, now=local(23, 10, 0))
    assert row is not None
    assert row.first_response_due_at == local(23, 11, 0)

    await status(kernel, made, Status.pending)
    row = await sync(kernel, made, now=local(23, 10, 20))
    assert row is not None
    assert row.paused_since == local(23, 10, 20)
    assert row.next_check_at is None
    assert await shown(kernel, made) == (None, "idle")
    await status(kernel, made, Status.open)  # the customer wrote back the next morning
    row = await sync(kernel, made, now=local(24, 10, 0))
    assert row is not None
    assert row.paused_since is None
    assert row.paused_seconds == (7 * 60 + 40 + 60) * 60  # Monday 10:20–18:00, Tuesday 9:00–10:00
    assert row.first_response_due_at == local(24, 10, 40)  # the 40 minutes it had left
    assert row.resolution_due_at == local(24, 13, 40)
    assert await shown(kernel, made) == (local(24, 10, 40), "ok")

    await status(kernel, made, Status.snoozed, snoozed_until=datetime.now(UTC) + timedelta(hours=1))
    await sync(kernel, made, now=local(24, 10, 30))
    await status(kernel, made, Status.open)
    row = await sync(kernel, made, now=local(24, 11, 0))
    assert row is not None
    assert row.first_response_due_at == local(24, 11, 10)
    # Pending time outside business hours costs nothing.
    await status(kernel, made, Status.pending)
    await sync(kernel, made, now=local(24, 19, 0))
    await status(kernel, made, Status.open)
    row = await sync(kernel, made, now=local(24, 23, 0))
    assert row is not None
    assert row.first_response_due_at == local(24, 11, 10)


# -- the three targets ------------------------------------------------------------------------------
async def test_first_and_next_response_are_met_by_agent_replies_only(
    kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="张三")
    await policy(kernel, first_response_minutes=30, next_response_minutes=10)
    made = await conversation(kernel)
    visitor = await customer(kernel, made)
    await say(kernel, made, visitor, "在吗？")
    await say(kernel, made, Author.agent(agent.id, "张三"), "内部备注", is_note=True)
    await say(kernel, made, Author.bot("小助手"), "您好，我是机器人")
    await say(kernel, made, Author.system(), "Conversation transferred")
    row = await sync(kernel, made, now=datetime.now(UTC))
    assert row is not None
    assert row.first_response_met_at is None
    assert row.next_response_started_at is None  # customer messages before the first reply don't start it

    await say(kernel, made, Author.agent(agent.id, "张三"), "您好！")
    row = await sync(kernel, made, now=datetime.now(UTC))
    assert row is not None
    assert row.first_response_met_at is not None
    assert row.next_response_started_at is None
    assert row.next_response_due_at is None

    await say(kernel, made, visitor, "还有一个问题")
    await say(kernel, made, visitor, "发票怎么开？")
    row = await sync(kernel, made, now=datetime.now(UTC))
    assert row is not None
    assert row.next_response_started_at is not None
    started = row.next_response_started_at
    assert row.next_response_due_at == started + timedelta(minutes=10)
    row = await sync(kernel, made, now=datetime.now(UTC))  # a second look changes nothing
    assert row is not None
    assert row.next_response_started_at == started

    await say(kernel, made, Author.agent(agent.id, "张三"), "备注", is_note=True)
    row = await sync(kernel, made, now=datetime.now(UTC))
    assert row is not None
    assert row.next_response_met_at is None
    await say(kernel, made, Author.agent(agent.id, "张三"), "可以在订单页开票")
    row = await sync(kernel, made, now=datetime.now(UTC))
    assert row is not None
    assert row.next_response_met_at is not None
    assert row.next_response_met_at >= started
    assert await shown(kernel, made) == (None, "idle")  # nothing left to meet (no resolution target)

    await say(kernel, made, visitor, "谢谢，再问一下")  # a new clock
    row = await sync(kernel, made, now=datetime.now(UTC))
    assert row is not None
    assert row.next_response_started_at > started
    assert row.next_response_met_at is None


async def test_resolution_is_met_at_resolve_and_reopening_goes_on_with_the_time_left(kernel: Kernel) -> None:
    await policy(kernel, resolution_minutes=120)
    made = await conversation(kernel, created_at=T0)
    await sync(kernel, made, now=T0)
    await status(kernel, made, Status.resolved)
    row = await sync(kernel, made, now=T0 + timedelta(minutes=30))
    assert row is not None
    assert row.resolution_met_at is not None
    assert row.paused_since is not None
    assert await shown(kernel, made) == (None, "idle")
    await status(kernel, made, Status.open)  # reopened five hours later
    reopened = T0 + timedelta(hours=5, minutes=30)
    row = await sync(kernel, made, now=reopened)
    assert row is not None
    assert row.resolution_met_at is None
    assert row.resolution_due_at == reopened + timedelta(minutes=90)
    await status(kernel, made, Status.closed)
    row = await sync(kernel, made, now=reopened + timedelta(minutes=10))
    assert row is not None
    assert row.resolution_met_at is not None


async def test_transfers_and_assignments_do_not_touch_the_clocks(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    one = await factory.user(Role.agent, team_ids=[team])
    other = await factory.user(Role.agent, team_ids=[team])
    await policy(kernel, first_response_minutes=30, resolution_minutes=240)
    made = await conversation(kernel, created_at=T0, queue_id=team)
    before = await sync(kernel, made, now=T0)
    assert before is not None
    due = (before.first_response_due_at, before.resolution_due_at)
    async with kernel.db.transaction() as session:
        await assign_conversation(session, made, one.id, actor=TEST_ACTOR)
    async with kernel.db.transaction() as session:
        await transfer_conversation(session, made, actor=TEST_ACTOR, actor_name="test", to_user_id=other.id)
    after = await sync(kernel, made, now=T0 + timedelta(minutes=5))
    assert after is not None
    assert (after.first_response_due_at, after.resolution_due_at) == due
    assert after.first_response_met_at is None  # the system line of the transfer is no reply


# -- warnings, breaches, escalation -----------------------------------------------------------------
async def test_a_warning_and_a_breach_happen_once_each(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    await policy(kernel, first_response_minutes=10, warn_percent=80)
    made = await conversation(kernel, created_at=T0)
    async with kernel.db.transaction() as session:
        await assign_conversation(session, made, agent.id, actor=TEST_ACTOR)
    await sync(kernel, made, now=T0)
    seen = Recorder(kernel, sla.SlaWarning, sla.SlaBreached)

    assert (await sla.run_checks(kernel.db, now=T0 + timedelta(minutes=7))).warned == []
    result = await sla.run_checks(kernel.db, now=T0 + timedelta(minutes=8, seconds=1))
    assert result.warned == [(made, "first_response")]
    assert result.breached == []
    assert await shown(kernel, made) == (T0 + timedelta(minutes=10), "warning")
    again = await sla.run_checks(kernel.db, now=T0 + timedelta(minutes=9))
    assert again.warned == []
    assert again.breached == []

    result = await sla.run_checks(kernel.db, now=T0 + timedelta(minutes=10, seconds=1))
    assert result.breached == [(made, "first_response")]
    assert result.warned == []
    assert await shown(kernel, made) == (T0 + timedelta(minutes=10), "breached")
    for later in (11, 60):
        again = await sla.run_checks(kernel.db, now=T0 + timedelta(minutes=later))
        assert again.warned == []
        assert again.breached == []

    assert [type(e).__name__ for e in seen.events] == ["SlaWarning", "SlaBreached"]
    warning, breach = seen.events
    assert warning.target == breach.target == "first_response"
    assert set(warning.topics()) == {"inbox", f"conversation:{made}"}
    assert breach.due_at == T0 + timedelta(minutes=10)
    assert breach.actions == ()
    async with kernel.db.reader() as session:
        kinds = list(await session.scalars(select(Notification.kind).where(Notification.user_id == agent.id)))
        row = await session.get(ConversationSla, made)
    assert "sla_warning" in kinds  # the assigned agent hears of it before it is late
    assert row is not None
    assert row.next_check_at is None

    # A reply now meets it late: the conversation no longer shows a clock.
    await say(kernel, made, Author.agent(agent.id, "坐席"), "抱歉久等了")
    row = await sync(kernel, made, now=T0 + timedelta(minutes=70))
    assert row is not None
    assert row.first_response_met_at is not None
    assert row.first_response_breached_at == T0 + timedelta(minutes=10, seconds=1)
    assert await shown(kernel, made) == (None, "idle")


async def test_no_warning_or_breach_while_paused(kernel: Kernel) -> None:
    await policy(kernel, first_response_minutes=10)
    made = await conversation(kernel, created_at=T0)
    await sync(kernel, made, now=T0)
    await status(kernel, made, Status.pending)
    await sync(kernel, made, now=T0 + timedelta(minutes=5))
    result = await sla.run_checks(kernel.db, now=T0 + timedelta(hours=3))
    assert result.warned == []
    assert result.breached == []
    await status(kernel, made, Status.open)
    row = await sync(kernel, made, now=T0 + timedelta(hours=3))
    assert row is not None
    assert row.first_response_due_at == T0 + timedelta(hours=3, minutes=5)


async def supervisors(factory: Factory, kernel: Kernel) -> list[int]:
    """Two active supervisors and one who left."""
    active = [(await factory.user(Role.supervisor)).id for _ in range(2)]
    gone = await factory.user(Role.supervisor)
    async with kernel.db.transaction() as session:
        await session.execute(update(User).where(User.id == gone.id).values(is_active=False))
    return active


async def test_a_breach_escalates_supervisors_priority_and_reassignment(
    kernel: Kernel, factory: Factory
) -> None:
    bosses = await supervisors(factory, kernel)
    team = await factory.team()
    first = await factory.user(Role.agent, team_ids=[team], name="李四")
    second = await factory.user(Role.agent, team_ids=[team], name="王五")
    await presence(kernel, second.id, PresenceState.away)
    await policy(
        kernel,
        first_response_minutes=10,
        escalation={"notify_supervisors": True, "raise_priority": True, "reassign": True},
    )
    made = await conversation(kernel, created_at=T0, queue_id=team)
    async with kernel.db.transaction() as session:
        await assign_conversation(session, made, first.id, actor=TEST_ACTOR)
    await sync(kernel, made, now=T0)
    # 李四 steps away; 王五 comes back: when the conversation returns to the queue, routing gives it to him.
    await presence(kernel, first.id, PresenceState.away)
    await presence(kernel, second.id, PresenceState.online)
    seen = Recorder(kernel, sla.SlaBreached)

    result = await sla.run_checks(kernel.db, now=T0 + timedelta(minutes=11))
    assert result.breached == [(made, "first_response")]
    assert seen.events[0].actions == ("notify_supervisors", "raise_priority", "reassign")
    async with kernel.db.reader() as session:
        notified = list(
            await session.scalars(
                select(Notification.user_id)
                .where(Notification.kind == "sla_breached")
                .order_by(Notification.user_id)
            )
        )
        found = await session.get(Conversation, made)
        audited = list(
            await session.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "sla.escalated").order_by(AuditEntry.id)
            )
        )
    assert notified == sorted(bosses)
    assert found is not None
    assert found.priority == "high"
    assert [d["escalation"] for d in audited] == ["notify_supervisors", "raise_priority", "reassign"]
    assert await assignee(kernel, made) == second.id  # routing decided again

    # Once per target: nothing more, however often the job runs.
    await sla.run_checks(kernel.db, now=T0 + timedelta(minutes=30))
    async with kernel.db.reader() as session:
        count = await session.scalar(select(func.count()).where(AuditEntry.action == "sla.escalated"))
        priority = await session.scalar(select(Conversation.priority).where(Conversation.id == made))
    assert count == 3
    assert priority == "high"


async def test_escalation_stops_at_urgent_and_keeps_a_conversation_without_queue(
    kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent)
    await policy(kernel, resolution_minutes=60, escalation={"raise_priority": True, "reassign": True})
    made = await conversation(kernel, created_at=T0, priority=Priority.urgent)
    async with kernel.db.transaction() as session:
        await assign_conversation(session, made, agent.id, actor=TEST_ACTOR)
    await sync(kernel, made, now=T0)
    result = await sla.run_checks(kernel.db, now=T0 + timedelta(hours=2))
    assert result.breached == [(made, "resolution")]
    async with kernel.db.reader() as session:
        found = await session.get(Conversation, made)
        count = await session.scalar(select(func.count()).where(AuditEntry.action == "sla.escalated"))
    assert found is not None
    assert found.priority == "urgent"
    assert found.assignee_id == agent.id
    assert count == 0


async def test_several_nodes_checking_at_once_act_once(kernel: Kernel, factory: Factory) -> None:
    await supervisors(factory, kernel)
    await policy(
        kernel, first_response_minutes=5, escalation={"notify_supervisors": True, "raise_priority": True}
    )
    made = [await conversation(kernel, created_at=T0) for _ in range(3)]
    for conversation_id in made:
        await sync(kernel, conversation_id, now=T0)
    seen = Recorder(kernel, sla.SlaBreached)
    results = await asyncio.gather(
        *(sla.run_checks(kernel.db, now=T0 + timedelta(minutes=6)) for _ in range(4))
    )
    assert sorted(b for r in results for b in r.breached) == [(c, "first_response") for c in made]
    assert len(seen.events) == 3
    async with kernel.db.reader() as session:
        notifications = await session.scalar(select(func.count()).where(Notification.kind == "sla_breached"))
        priorities = set(
            await session.scalars(select(Conversation.priority).where(Conversation.id.in_(made)))
        )
    assert notifications == 3 * 2
    assert priorities == {"high"}


# -- the handlers keep the clocks live --------------------------------------------------------------
async def test_the_event_handlers_run_the_clocks(kernel: Kernel, factory: Factory) -> None:
    sla.register(kernel)
    sla.register(kernel)  # harmless twice
    assert kernel.jobs.get("routing.sla") is not None
    assert sum(1 for p in kernel.jobs.periodic if p.job.name == "routing.sla") == 1
    agent = await factory.user(Role.agent, name="赵六")
    await policy(
        kernel,
        "Standard",
        position=5,
        first_response_minutes=30,
        next_response_minutes=15,
        resolution_minutes=600,
    )
    await policy(kernel, "Urgent", position=1, priorities=["urgent"], first_response_minutes=5)
    made = await conversation(kernel)
    row = await clocks(kernel, made)
    assert row is not None
    assert row.first_response_due_at is not None
    due, state = await shown(kernel, made)
    assert state == "ok"
    assert due == row.first_response_due_at

    async with kernel.db.transaction() as session:  # another policy matches now
        await update_conversation(session, made, actor=TEST_ACTOR, priority=Priority.urgent)
    row = await clocks(kernel, made)
    assert row is not None
    assert row.policy_id == (await policy_id(kernel, "Urgent"))
    assert row.first_response_due_at == row.started_at + timedelta(minutes=5)
    async with kernel.db.transaction() as session:
        await update_conversation(session, made, actor=TEST_ACTOR, priority=Priority.normal)

    visitor = await customer(kernel, made)
    await say(kernel, made, Author.agent(agent.id, "赵六"), "您好")
    row = await clocks(kernel, made)
    assert row is not None
    assert row.first_response_met_at is not None
    await say(kernel, made, visitor, "我的订单还没到")
    row = await clocks(kernel, made)
    assert row is not None
    assert row.next_response_started_at is not None
    assert row.next_response_met_at is None
    await say(kernel, made, Author.agent(agent.id, "赵六"), "我查一下")
    row = await clocks(kernel, made)
    assert row is not None
    assert row.next_response_met_at is not None

    await status(kernel, made, Status.pending)
    row = await clocks(kernel, made)
    assert row is not None
    assert row.paused_since is not None
    await say(kernel, made, visitor, "查到了吗？")  # the customer's message reopens it
    row = await clocks(kernel, made)
    assert row is not None
    assert row.paused_since is None
    assert row.next_response_met_at is None
    await status(kernel, made, Status.resolved)
    row = await clocks(kernel, made)
    assert row is not None
    assert row.resolution_met_at is not None
    assert await shown(kernel, made) == (None, "idle")


async def policy_id(kernel: Kernel, name: str) -> int:
    async with kernel.db.reader() as session:
        found = await session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == name))
        assert found is not None
        return found


async def test_deleting_a_policy_stops_its_clocks(kernel: Kernel) -> None:
    made_policy = await policy(kernel, first_response_minutes=10)
    made = await conversation(kernel, created_at=T0)
    await sync(kernel, made, now=T0)
    assert (await shown(kernel, made))[1] == "ok"
    async with kernel.db.transaction() as session:
        assert await sla.delete_policy(session, TEST_ACTOR, made_policy.id) == 1
    assert await clocks(kernel, made) is None
    assert await shown(kernel, made) == (None, "")
    assert (await sla.run_checks(kernel.db, now=T0 + timedelta(hours=1))).breached == []


async def test_the_demo_policies_start_clocks_for_waiting_conversations(kernel: Kernel) -> None:
    made = await conversation(kernel, tier="vip")
    async with kernel.db.transaction() as session:
        policies = await sla.seed_sla(session, TEST_ACTOR)
    assert [p.name for p in policies] == ["VIP 客户", "投诉", "标准服务"]
    row = await clocks(kernel, made)
    assert row is not None
    assert row.policy_id == policies[0].id


# -- the inbox ---------------------------------------------------------------------------------------
async def test_the_inbox_shows_the_sla_badge(
    client: httpx.AsyncClient, kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="孙七")
    await factory.login(client, agent)
    await policy(kernel, first_response_minutes=30)
    now = datetime.now(UTC)
    made = await conversation(kernel, created_at=now)
    async with kernel.db.transaction() as session:
        await assign_conversation(session, made, agent.id, actor=TEST_ACTOR)
    await sync(kernel, made, now=now)
    html = (await client.get("/inbox")).text
    assert "sla-ok" in html
    assert re.search(r"SLA (29|30) min", html)
    header = (await client.get(f"/inbox/conversations/{made}/header")).text
    assert 'id="ws-sla"' in header
    assert "SLA due" in header

    await sla.run_checks(kernel.db, now=now + timedelta(minutes=31))
    html = (await client.get("/inbox")).text
    assert "sla-breached" in html
    assert "Overdue" in html
    assert "SLA target missed" in (await client.get(f"/inbox/conversations/{made}/header")).text
