"""Events are dispatched after the commit, dropped on rollback, and failures stay contained."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from sqlalchemy import select

from kefu.accounts.access import Role
from kefu.accounts.models import Team
from kefu.platform.db import Database, utcnow
from kefu.platform.events import INTERNAL, Event, EventDispatcher, record_event
from kefu.platform.kernel import Kernel
from tests.factories import Factory


@dataclass(frozen=True)
class TeamNoted(Event):
    name: ClassVar[str] = "test.team_noted"
    team_name: str

    def topics(self) -> Sequence[str]:
        return (f"test:{self.team_name}",)


@dataclass(frozen=True)
class SpecialTeamNoted(TeamNoted):
    name: ClassVar[str] = "test.special_team_noted"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


async def test_handlers_run_after_commit_and_see_the_committed_rows(db: Database) -> None:
    dispatcher = EventDispatcher()
    db.set_event_sink(dispatcher.dispatch)
    seen: list[tuple[str, bool]] = []

    async def handler(event: TeamNoted) -> None:
        async with db.reader() as session:  # another connection: only committed rows are visible
            exists = await session.scalar(select(Team.id).where(Team.name == event.team_name)) is not None
        seen.append((event.team_name, exists))

    dispatcher.subscribe(TeamNoted, handler)
    async with db.transaction() as session:
        session.add(Team(name="售后", description="", created_at=utcnow()))
        record_event(session, TeamNoted("售后"))
        assert seen == []  # nothing is dispatched before the commit
    assert seen == [("售后", True)]


async def test_events_of_a_rolled_back_transaction_are_dropped(db: Database) -> None:
    dispatcher = EventDispatcher()
    db.set_event_sink(dispatcher.dispatch)
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    dispatcher.subscribe_all(handler)

    async def fail_after_writing() -> None:
        async with db.transaction() as session:
            session.add(Team(name="gone", description="", created_at=utcnow()))
            record_event(session, TeamNoted("gone"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_after_writing()
    async with db.transaction() as session:
        record_event(session, TeamNoted("kept"))
    assert [e.team_name for e in seen if isinstance(e, TeamNoted)] == ["kept"]
    async with db.reader() as session:
        assert await session.scalar(select(Team.id).where(Team.name == "gone")) is None


async def test_a_failing_handler_does_not_stop_the_others_nor_the_request(db: Database) -> None:
    dispatcher = EventDispatcher()
    db.set_event_sink(dispatcher.dispatch)
    calls: list[str] = []

    async def broken(event: TeamNoted) -> None:
        calls.append("broken")
        raise ValueError("handler bug")

    async def fine(event: TeamNoted) -> None:
        calls.append("fine")

    dispatcher.subscribe(TeamNoted, broken)
    dispatcher.subscribe(TeamNoted, fine)
    async with db.transaction() as session:
        record_event(session, TeamNoted("x"))
    assert calls == ["broken", "fine"]


async def test_handlers_of_a_base_class_receive_subclasses(db: Database) -> None:
    dispatcher = EventDispatcher()
    db.set_event_sink(dispatcher.dispatch)
    names: list[str] = []

    async def on_base(event: TeamNoted) -> None:
        names.append(f"base:{event.name}")

    async def on_special(event: SpecialTeamNoted) -> None:
        names.append(f"special:{event.name}")

    dispatcher.subscribe(TeamNoted, on_base)
    dispatcher.subscribe(SpecialTeamNoted, on_special)
    async with db.transaction() as session:
        record_event(session, TeamNoted("a"))
        record_event(session, SpecialTeamNoted("b"))
    assert names == [
        "base:test.team_noted",
        "special:test.special_team_noted",
        "base:test.special_team_noted",
    ]


def test_payloads_are_plain_json() -> None:
    import datetime as dt
    import json

    @dataclass(frozen=True)
    class Mixed(Event):
        name: ClassVar[str] = "test.mixed"
        when: dt.datetime
        tags: tuple[str, ...]

    payload = Mixed(dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC), ("a", "b")).payload()
    assert json.loads(json.dumps(payload)) == {"when": "2026-10-01T08:00:00+00:00", "tags": ["a", "b"]}


async def test_a_service_event_reaches_its_realtime_topic(kernel: Kernel, factory: Factory) -> None:
    before = await kernel.broker.head("users")
    await factory.user(Role.agent, name="新同事")
    items = await kernel.broker.read_after("users", before)
    assert items is not None
    assert [i.message for i in items if "新同事" in i.message], "user.created did not reach the 'users' topic"


def test_internal_fields_reach_handlers_but_are_never_published() -> None:
    @dataclass(frozen=True)
    class Replied(Event):
        name: ClassVar[str] = "test.replied"
        conversation_id: int
        assignee_id: int | None = field(default=None, metadata=INTERNAL)

    event = Replied(7, assignee_id=3)
    assert event.assignee_id == 3  # in-process handlers see it
    assert event.payload() == {"conversation_id": 7}  # sockets (visitors included) never do
