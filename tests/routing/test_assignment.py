"""Automatic assignment against the database: the engine's decisions, atomic and event-driven."""

from __future__ import annotations

import asyncio

from kefu.accounts import Role
from kefu.conversations import ConversationAssigned
from kefu.platform.kernel import Kernel
from kefu.routing import PresenceState, record_heartbeat
from kefu.routing.assignment import assign_waiting
from kefu.routing.jobs import sweep
from tests.factories import Factory
from tests.routing.support import Recorder, assignee, give, new_conversation, online_without_event, presence


async def test_by_default_the_least_busy_agent_wins_then_the_longest_idle(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    a = await factory.user(Role.agent, team_ids=[team])
    b = await factory.user(Role.agent, team_ids=[team])
    c = await factory.user(Role.agent, team_ids=[team])
    for user, count in ((a, 1), (b, 0), (c, 1)):
        for _ in range(count):
            await give(kernel, await new_conversation(kernel, team), user.id)
    for user in (a, b, c):
        await presence(kernel, user.id, PresenceState.online)

    picks = [await assignee(kernel, await new_conversation(kernel, team)) for _ in range(4)]
    # 1st: b has the fewest. 2nd: all at one, a and c never got one: the lower id, a.
    # 3rd: b and c at one; c never got one, b just did: c, although b's id is lower.
    # 4th: b is the only one left at one.
    assert picks == [b.id, a.id, c.id, b.id]


async def test_only_online_members_of_the_queue_get_its_conversations(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    other = await factory.team()
    member = await factory.user(Role.agent, team_ids=[team])
    outsider = await factory.user(Role.agent, team_ids=[other])
    await presence(kernel, member.id, PresenceState.busy)
    await presence(kernel, outsider.id, PresenceState.online)

    waiting = await new_conversation(kernel, team)
    assert await assignee(kernel, waiting) is None  # the outsider is idle, but not of this queue
    anyone = await new_conversation(kernel, None)
    assert await assignee(kernel, anyone) == outsider.id  # no queue: any online agent

    seen = Recorder(kernel, ConversationAssigned)
    await presence(kernel, member.id, PresenceState.online)  # coming online takes the waiting one
    assert await assignee(kernel, waiting) == member.id
    assert [(e.conversation_id, e.assignee_id, e.by_user_id) for e in seen.events] == [
        (waiting, member.id, None)
    ]


async def test_nobody_online_means_no_assignment(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    await presence(kernel, agent.id, PresenceState.away)
    conversation = await new_conversation(kernel, team)
    await sweep(kernel.db)
    assert await assignee(kernel, conversation) is None


async def test_concurrent_runs_never_assign_twice(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    one = await factory.user(Role.agent, team_ids=[team])
    two = await factory.user(Role.agent, team_ids=[team])
    conversation = await new_conversation(kernel, team)
    await online_without_event(kernel, one.id)
    await online_without_event(kernel, two.id)
    seen = Recorder(kernel, ConversationAssigned)

    results = await asyncio.gather(*(assign_waiting(kernel.db, conversation) for _ in range(3)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await assignee(kernel, conversation) == winners[0]
    assert len(seen.events) == 1


async def test_the_sweep_assigns_conversations_whose_event_was_missed(
    kernel: Kernel, factory: Factory
) -> None:
    team = await factory.team()
    agent = await factory.user(Role.agent, team_ids=[team])
    first = await new_conversation(kernel, team)
    second = await new_conversation(kernel, team)
    await online_without_event(kernel, agent.id)
    assert await assignee(kernel, first) is None
    async with kernel.db.transaction() as session:  # a live tab: the sweep keeps the agent online
        await record_heartbeat(session, agent.id)
    await sweep(kernel.db)
    assert await assignee(kernel, first) == agent.id
    assert await assignee(kernel, second) == agent.id


async def test_a_conversation_already_taken_is_left_alone(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    taker = await factory.user(Role.agent)
    conversation = await new_conversation(kernel, None)
    await give(kernel, conversation, taker.id)
    await online_without_event(kernel, agent.id)
    assert await assign_waiting(kernel.db, conversation) is None
    assert await assignee(kernel, conversation) == taker.id
