"""The ACD against the database: capacity, skills, tiers, dedicated queues and agents, sticky
waits, overflow, round robin, and the events that trigger decisions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from kefu.accounts import Role
from kefu.conversations import Contact, Conversation, Status, change_status, transfer_conversation
from kefu.platform.db import utcnow
from kefu.platform.jobs import Job
from kefu.platform.kernel import Kernel
from kefu.routing import PresenceState
from kefu.routing.assignment import decide_for_conversation
from kefu.routing.models import AgentCapacity, AgentSkill, CustomerTier, QueueSettings, QueueSkill, Skill
from tests.factories import Factory
from tests.routing.support import TEST_ACTOR, assignee, give, new_conversation, online_without_event, presence


async def capacity(kernel: Kernel, user_id: int, chats: int) -> None:
    async with kernel.db.transaction() as session:
        session.add(AgentCapacity(user_id=user_id, channel="web_chat", max_concurrent=chats))


async def queue(kernel: Kernel, team_id: int, **values: object) -> None:
    async with kernel.db.transaction() as session:
        session.add(QueueSettings(team_id=team_id, updated_at=utcnow(), **values))


async def skill(
    kernel: Kernel, name: str, *, team: tuple[int, int] | None = None, agents: dict[int, int]
) -> None:
    """A skill; ``team`` = (team id, minimum level) it requires; ``agents`` = user id -> level."""
    async with kernel.db.transaction() as session:
        found = Skill(name=name, kind="skill", description="", created_at=utcnow())
        session.add(found)
        await session.flush()
        if team is not None:
            session.add(QueueSkill(team_id=team[0], skill_id=found.id, min_level=team[1]))
        for user_id, level in agents.items():
            session.add(AgentSkill(user_id=user_id, skill_id=found.id, level=level))


async def contact_of(kernel: Kernel, conversation_id: int, **values: object) -> int:
    async with kernel.db.transaction() as session:
        contact_id = await session.scalar(
            select(Conversation.contact_id).where(Conversation.id == conversation_id)
        )
        await session.execute(update(Contact).where(Contact.id == contact_id).values(**values))
        assert contact_id is not None
        return contact_id


async def resolve(kernel: Kernel, conversation_id: int) -> None:
    async with kernel.db.transaction() as session:
        await change_status(session, conversation_id, Status.resolved, actor=TEST_ACTOR)


async def test_capacity_is_never_exceeded_and_a_freed_slot_takes_the_next(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    await capacity(kernel, agent.id, 2)
    await presence(kernel, agent.id, PresenceState.online)
    first, second, third = [await new_conversation(kernel, team) for _ in range(3)]
    assert [await assignee(kernel, c) for c in (first, second, third)] == [agent.id, agent.id, None]
    await resolve(kernel, first)  # the agent's room grows: the waiting one is theirs
    assert await assignee(kernel, third) == agent.id


async def test_the_queue_skill_and_its_level_are_required(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    novice = await factory.user(Role.agent, team_ids=[team])
    expert = await factory.user(Role.agent, team_ids=[team])
    await skill(kernel, "billing", team=(team, 3), agents={novice.id: 2, expert.id: 4})
    await presence(kernel, novice.id, PresenceState.online)
    waiting = await new_conversation(kernel, team)
    assert await assignee(kernel, waiting) is None  # level 2 < 3
    await presence(kernel, expert.id, PresenceState.online)
    assert await assignee(kernel, waiting) == expert.id


async def test_a_vip_is_served_before_regular_customers_who_waited_less_than_the_head_start(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    await capacity(kernel, agent.id, 1)
    await presence(kernel, agent.id, PresenceState.online)
    busy = await new_conversation(kernel, team)
    assert await assignee(kernel, busy) == agent.id
    regular = await new_conversation(kernel, team)
    vip = await new_conversation(kernel, team)
    await contact_of(kernel, vip, tier="vip")
    async with kernel.db.transaction() as session:  # the VIP's tier is read when it is (re)ranked
        await decide_for_conversation(session, vip)
        ranks = dict(
            (
                await session.execute(
                    select(Conversation.id, Conversation.rank_at).where(Conversation.id.in_([regular, vip]))
                )
            ).all()
        )
    assert ranks[vip] < ranks[regular]
    await resolve(kernel, busy)
    assert await assignee(kernel, vip) == agent.id
    assert await assignee(kernel, regular) is None


async def test_a_tier_with_a_dedicated_queue_is_served_there(kernel: Kernel, factory: Factory) -> None:
    general = await factory.team()
    vip_desk = await factory.team()
    vip_agent = await factory.user(Role.agent, team_ids=[vip_desk])
    async with kernel.db.transaction() as session:
        await session.execute(
            update(CustomerTier).where(CustomerTier.key == "vip").values(dedicated_team_id=vip_desk)
        )
    await presence(kernel, vip_agent.id, PresenceState.online)
    regular = await new_conversation(kernel, general)
    assert await assignee(kernel, regular) is None
    vip = await new_conversation(kernel, general)
    await contact_of(kernel, vip, tier="vip")
    async with kernel.db.transaction() as session:
        await decide_for_conversation(session, vip)
    async with kernel.db.reader() as session:
        found = await session.get(Conversation, vip)
        assert found is not None
        assert (found.queue_id, found.assignee_id) == (vip_desk, vip_agent.id)


async def test_the_last_agent_is_waited_for_until_the_sticky_limit(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    last = await factory.user(Role.agent, team_ids=[team])
    other = await factory.user(Role.agent, team_ids=[team])
    await queue(kernel, team, sticky_seconds=90)
    await capacity(kernel, last.id, 1)
    earlier = await new_conversation(kernel, team)
    await give(kernel, earlier, last.id)  # served this customer before, and is full now
    await presence(kernel, last.id, PresenceState.online)
    await presence(kernel, other.id, PresenceState.online)

    again = await new_conversation(kernel, team)
    async with kernel.db.transaction() as session:  # same customer, new conversation
        contact_id = await session.scalar(select(Conversation.contact_id).where(Conversation.id == earlier))
        await session.execute(
            update(Conversation)
            .where(Conversation.id == again)
            .values(contact_id=contact_id, assignee_id=None)
        )
        outcome = await decide_for_conversation(session, again)
    assert outcome.assigned == []
    assert outcome.retry_at is not None
    async with kernel.db.transaction() as session:
        later = await decide_for_conversation(session, again, now=outcome.retry_at + timedelta(seconds=1))
    assert later.assigned == [(again, other.id)]


async def test_a_dedicated_agent_gets_their_customer_while_present(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    idle = await factory.user(Role.agent, team_ids=[team])
    dedicated = await factory.user(Role.agent, team_ids=[team])
    await give(kernel, await new_conversation(kernel, team), dedicated.id)  # busier: least busy picks idle
    waiting = await new_conversation(kernel, team)
    await contact_of(kernel, waiting, dedicated_agent_id=dedicated.id)
    for user in (idle, dedicated):
        await online_without_event(kernel, user.id)
    async with kernel.db.transaction() as session:
        outcome = await decide_for_conversation(session, waiting)
    assert outcome.assigned == [(waiting, dedicated.id)]


async def test_overflow_after_the_wait_and_a_timed_retry_is_scheduled(
    kernel: Kernel, factory: Factory
) -> None:
    first_line = await factory.team()
    backup = await factory.team()
    helper = await factory.user(Role.agent, team_ids=[backup])
    await queue(kernel, first_line, overflow_team_id=backup, overflow_after_seconds=60)
    await presence(kernel, helper.id, PresenceState.online)
    waiting = await new_conversation(kernel, first_line)
    assert await assignee(kernel, waiting) is None
    async with kernel.db.reader() as session:
        job = await session.scalar(select(Job).where(Job.name == "routing.assign"))
        since = await session.scalar(select(Conversation.waiting_since).where(Conversation.id == waiting))
    assert job is not None
    assert job.payload == {"conversation_id": waiting}
    assert since is not None
    assert timedelta(seconds=60) <= job.run_at - since < timedelta(seconds=61)
    async with kernel.db.transaction() as session:
        outcome = await decide_for_conversation(session, waiting, now=since + timedelta(seconds=61))
    assert outcome.assigned == [(waiting, helper.id)]


async def test_round_robin_goes_around_the_queue_and_remembers_where(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    agents = [await factory.user(Role.agent, team_ids=[team]) for _ in range(3)]
    await queue(kernel, team, strategy="round_robin")
    for agent in agents:
        await capacity(kernel, agent.id, 5)
        await presence(kernel, agent.id, PresenceState.online)
    picks = [await assignee(kernel, await new_conversation(kernel, team)) for _ in range(5)]
    ids = sorted(a.id for a in agents)
    assert picks == [ids[0], ids[1], ids[2], ids[0], ids[1]]
    async with kernel.db.reader() as session:
        settings = await session.get(QueueSettings, team)
        assert settings is not None
        assert settings.round_robin_last_user_id == ids[1]


async def test_handing_a_conversation_back_to_the_queue_frees_room_for_the_next(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    other = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    await capacity(kernel, agent.id, 1)
    await presence(kernel, agent.id, PresenceState.online)
    mine = await new_conversation(kernel, team)
    waiting = await new_conversation(kernel, team)
    assert await assignee(kernel, waiting) is None
    async with kernel.db.transaction() as session:
        await transfer_conversation(session, mine, actor=TEST_ACTOR, actor_name="t", to_queue_id=other)
    assert await assignee(kernel, waiting) == agent.id


async def closed_calendar(kernel: Kernel) -> int:
    """Business hours that are closed now: open only in the hour that started 12 hours ago, every day."""
    from kefu.calendars.service import create_calendar

    start = (utcnow() - timedelta(hours=12)).replace(minute=0)
    end = start + timedelta(hours=1)
    hours = [[start.strftime("%H:%M"), end.strftime("%H:%M") if end.hour else "24:00"]]
    async with kernel.db.transaction() as session:
        calendar = await create_calendar(
            session,
            TEST_ACTOR,
            name=f"Closed now {start.isoformat()}",
            timezone="UTC",
            weekly_hours={str(day): hours for day in range(1, 8)},
        )
        return calendar.id


async def test_a_closed_queue_assigns_nobody_until_it_opens(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    await queue(kernel, team, calendar_id=await closed_calendar(kernel), after_hours="offline_message")
    await presence(kernel, agent.id, PresenceState.online)
    waiting = await new_conversation(kernel, team)
    assert await assignee(kernel, waiting) is None
    async with kernel.db.transaction() as session:
        outcome = await decide_for_conversation(session, waiting)
    assert outcome.assigned == []
    assert outcome.retry_at is not None
    assert timedelta(hours=11) < outcome.retry_at - utcnow() <= timedelta(hours=12)  # tomorrow's opening
    async with kernel.db.transaction() as session:
        opened = await decide_for_conversation(session, waiting, now=outcome.retry_at + timedelta(minutes=1))
    assert opened.assigned == [(waiting, agent.id)]


async def test_after_hours_overflow_sends_the_conversation_to_the_night_team(
    kernel: Kernel, factory: Factory
) -> None:
    day = await factory.team()
    night = await factory.team()
    owl = await factory.user(Role.agent, team_ids=[night])
    await queue(
        kernel,
        day,
        calendar_id=await closed_calendar(kernel),
        after_hours="overflow",
        after_hours_team_id=night,
    )
    await presence(kernel, owl.id, PresenceState.online)
    waiting = await new_conversation(kernel, day)
    assert await assignee(kernel, waiting) == owl.id
    async with kernel.db.reader() as session:
        assert await session.scalar(select(Conversation.queue_id).where(Conversation.id == waiting)) == night


async def test_more_capacity_or_a_relaxed_queue_assigns_what_waits(kernel: Kernel, factory: Factory) -> None:
    from kefu.routing import config

    team = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    async with kernel.db.transaction() as session:
        await config.set_agent_capacity(session, TEST_ACTOR, agent.id, {"web_chat": 1})
    await presence(kernel, agent.id, PresenceState.online)
    first, second = [await new_conversation(kernel, team) for _ in range(2)]
    assert [await assignee(kernel, c) for c in (first, second)] == [agent.id, None]
    async with kernel.db.transaction() as session:  # the admin gives the agent room for one more
        await config.set_agent_capacity(session, TEST_ACTOR, agent.id, {"web_chat": 2})
    assert await assignee(kernel, second) == agent.id

    other = await factory.team()
    billing = await factory.user(Role.agent, team_ids=[other])
    async with kernel.db.transaction() as session:
        made = await config.create_skill(session, TEST_ACTOR, name="对公账户")
        await config.update_queue_settings(session, TEST_ACTOR, other, skills={made.id: 2})
    await presence(kernel, billing.id, PresenceState.online)
    third = await new_conversation(kernel, other)
    assert await assignee(kernel, third) is None  # the agent lacks the skill
    async with kernel.db.transaction() as session:  # the queue stops requiring it
        await config.update_queue_settings(session, TEST_ACTOR, other, skills={})
    assert await assignee(kernel, third) == billing.id
