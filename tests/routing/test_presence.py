"""Presence: states and their events, manual versus automatic, heartbeats and the sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from kefu.accounts import Role, User
from kefu.platform.db import utcnow
from kefu.platform.errors import InvalidInput, NotFound
from kefu.platform.kernel import Kernel
from kefu.routing import (
    PRESENCE_LABELS,
    AgentPresence,
    PresenceChanged,
    PresenceState,
    available_agents,
    list_presence,
    record_heartbeat,
)
from kefu.routing.jobs import sweep
from kefu.routing.rules import HEARTBEAT_TIMEOUT
from tests.factories import Factory
from tests.routing.support import Recorder, presence


async def state_of(kernel: Kernel, user_id: int) -> tuple[str, bool, str]:
    async with kernel.db.reader() as session:
        row = await session.get(AgentPresence, user_id)
        assert row is not None
        return row.state, row.automatic, row.status_message


async def test_labels_cover_every_state() -> None:
    assert set(PRESENCE_LABELS) == set(PresenceState)
    assert PRESENCE_LABELS[PresenceState.after_call] == "After-call work"


async def test_set_presence_records_an_event_on_the_presence_and_user_topics(
    kernel: Kernel, factory: Factory
) -> None:
    agent = await factory.user(Role.agent, name="张三")
    seen = Recorder(kernel, PresenceChanged)
    await presence(kernel, agent.id, PresenceState.online, status_message="  售前  咨询 ")
    assert await state_of(kernel, agent.id) == ("online", False, "售前 咨询")
    [event] = seen.events
    assert (event.user_id, event.display_name, event.state, event.automatic) == (
        agent.id,
        "张三",
        "online",
        False,
    )
    assert event.status_message == "售前 咨询"
    assert tuple(event.topics()) == ("presence", f"user:{agent.id}")

    # The same state again changes nothing and says nothing; None keeps the message.
    await presence(kernel, agent.id, PresenceState.online)
    assert len(seen.events) == 1
    await presence(kernel, agent.id, PresenceState.busy)
    assert await state_of(kernel, agent.id) == ("busy", False, "售前 咨询")
    assert [e.state for e in seen.events] == ["online", "busy"]


async def test_bad_presence_input_is_refused(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    with pytest.raises(InvalidInput):
        await presence(kernel, agent.id, PresenceState.online, status_message="x" * 141)
    with pytest.raises(InvalidInput):
        await presence(kernel, agent.id, PresenceState.online, status_message="bad\x00")
    with pytest.raises(NotFound):
        await presence(kernel, 987654, PresenceState.online)


async def test_automatic_changes_never_replace_a_manual_choice(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    await presence(kernel, agent.id, PresenceState.busy)
    await presence(kernel, agent.id, PresenceState.away, automatic=True)
    assert await state_of(kernel, agent.id) == ("busy", False, "")
    await presence(kernel, agent.id, PresenceState.online, automatic=True)
    assert await state_of(kernel, agent.id) == ("busy", False, "")

    # A manual "online" is what idle detection corrects: away, then back online.
    await presence(kernel, agent.id, PresenceState.online)
    await presence(kernel, agent.id, PresenceState.away, automatic=True)
    assert await state_of(kernel, agent.id) == ("away", True, "")
    await presence(kernel, agent.id, PresenceState.online, automatic=True)
    assert await state_of(kernel, agent.id) == ("online", True, "")

    # Manually offline stays offline whatever the client decides on its own.
    await presence(kernel, agent.id, PresenceState.offline)
    await presence(kernel, agent.id, PresenceState.online, automatic=True)
    assert await state_of(kernel, agent.id) == ("offline", False, "")


async def test_sweep_takes_silent_agents_offline_and_a_heartbeat_brings_them_back(
    kernel: Kernel, factory: Factory
) -> None:
    quiet = await factory.user(Role.agent)
    alive = await factory.user(Role.agent)
    busy = await factory.user(Role.agent)
    for user in (quiet, alive, busy):
        await presence(kernel, user.id, PresenceState.online)
    await presence(kernel, busy.id, PresenceState.busy, status_message="meeting")
    async with kernel.db.transaction() as session:
        await record_heartbeat(session, quiet.id)
        await record_heartbeat(session, busy.id)
    later = utcnow() + HEARTBEAT_TIMEOUT + timedelta(seconds=1)
    async with kernel.db.transaction() as session:  # alive's tab keeps beating
        await session.execute(
            update(AgentPresence).where(AgentPresence.user_id == alive.id).values(last_seen_at=later)
        )
    seen = Recorder(kernel, PresenceChanged)

    await sweep(kernel.db, now=utcnow() + timedelta(seconds=30))  # not silent for long enough yet
    assert seen.events == []
    await sweep(kernel.db, now=later)
    assert await state_of(kernel, quiet.id) == ("offline", True, "")
    assert await state_of(kernel, busy.id) == ("offline", True, "meeting")
    assert await state_of(kernel, alive.id) == ("online", False, "")
    assert sorted((e.user_id, e.state, e.automatic) for e in seen.events) == sorted(
        [(quiet.id, "offline", True), (busy.id, "offline", True)]
    )

    # The next heartbeat restores what each one had before, manual choices included.
    async with kernel.db.transaction() as session:
        await record_heartbeat(session, quiet.id)
        await record_heartbeat(session, busy.id)
    assert await state_of(kernel, quiet.id) == ("online", False, "")
    assert await state_of(kernel, busy.id) == ("busy", False, "meeting")


async def test_heartbeat_does_not_bring_back_a_manual_offline(kernel: Kernel, factory: Factory) -> None:
    agent = await factory.user(Role.agent)
    newcomer = await factory.user(Role.agent)
    await presence(kernel, agent.id, PresenceState.offline)
    async with kernel.db.transaction() as session:
        await record_heartbeat(session, agent.id)
        assert await record_heartbeat(session, newcomer.id) is None
    assert await state_of(kernel, agent.id) == ("offline", False, "")


async def test_list_presence_and_available_agents_by_team(kernel: Kernel, factory: Factory) -> None:
    team = await factory.team()
    other_team = await factory.team()
    online_member = await factory.user(Role.agent, name="A online member", team_ids=[team])
    busy_member = await factory.user(Role.agent, name="B busy member", team_ids=[team])
    online_outsider = await factory.user(Role.agent, name="C outsider", team_ids=[other_team])
    never = await factory.user(Role.supervisor, name="D never set", team_ids=[team])
    gone = await factory.user(Role.agent, name="E deactivated", team_ids=[team])
    await presence(kernel, gone.id, PresenceState.online)
    async with kernel.db.transaction() as session:
        await session.execute(update(User).where(User.id == gone.id).values(is_active=False))
    await presence(kernel, online_member.id, PresenceState.online)
    await presence(kernel, busy_member.id, PresenceState.busy, status_message="lunch")
    await presence(kernel, online_outsider.id, PresenceState.online)

    async with kernel.db.reader() as session:
        assert await available_agents(session, team) == [online_member.id]
        assert await available_agents(session, other_team) == [online_outsider.id]
        assert sorted(await available_agents(session, None)) == sorted([online_member.id, online_outsider.id])
        rows = {row.user_id: row for row in await list_presence(session)}
    assert gone.id not in rows
    assert rows[never.id].state is PresenceState.offline
    assert rows[busy_member.id].state is PresenceState.busy
    assert rows[busy_member.id].status_message == "lunch"
    assert rows[online_member.id].open_conversations == 0
