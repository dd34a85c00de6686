"""Writes of the calendars feature: validation, conflicts, audit entries and events."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from kefu.admin import get_workspace_settings
from kefu.admin import service as admin_service
from kefu.calendars import CalendarChanged, get_calendar
from kefu.calendars import service as calendars_service
from kefu.calendars.service import parse_hours_text
from kefu.platform.audit import Actor, AuditEntry
from kefu.platform.errors import Conflict, InvalidInput, NotFound
from kefu.platform.events import Event
from kefu.platform.kernel import Kernel

ACTOR = Actor.system("test")
WORKDAY = [["09:00", "12:00"], ["13:00", "18:00"]]


async def create(kernel: Kernel, **overrides: Any) -> int:
    values: dict[str, Any] = {
        "name": "Office",
        "timezone": "Asia/Shanghai",
        "weekly_hours": {"1": WORKDAY},
        "cn_public_holidays": True,
    }
    values.update(overrides)
    async with kernel.db.transaction() as session:
        calendar = await calendars_service.create_calendar(session, ACTOR, **values)
        return calendar.id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"weekly_hours": {"1": [["9:00", "12:00"]]}}, "weekly_hours.1"),
        ({"weekly_hours": {"2": [["25:00", "26:00"]]}}, "weekly_hours.2"),
        ({"weekly_hours": {"3": [["12:00", "09:00"]]}}, "weekly_hours.3"),
        ({"weekly_hours": {"4": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "weekly_hours.4"),
        ({"weekly_hours": {"5": [["09:00"]]}}, "weekly_hours.5"),
        ({"weekly_hours": {"8": WORKDAY}}, "weekly_hours"),
    ],
)
async def test_bad_input_is_refused_with_the_field(
    kernel: Kernel, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await create(kernel, **overrides)
    assert caught.value.errors[0]["field"] == field


async def test_names_are_unique_ignoring_case(kernel: Kernel) -> None:
    await create(kernel, name="Office")
    with pytest.raises(Conflict):
        await create(kernel, name="office")
    other = await create(kernel, name="Night shift")
    with pytest.raises(Conflict):
        async with kernel.db.transaction() as session:
            await calendars_service.update_calendar(session, ACTOR, other, name="OFFICE")


async def test_every_write_is_audited_and_announced(kernel: Kernel) -> None:
    seen: list[CalendarChanged] = []

    async def remember(event: Event) -> None:
        if isinstance(event, CalendarChanged):
            seen.append(event)

    kernel.dispatcher.subscribe_all(remember)
    calendar_id = await create(kernel)
    async with kernel.db.transaction() as session:
        await calendars_service.update_calendar(
            session, ACTOR, calendar_id, weekly_hours={"1": WORKDAY, "6": [["10:00", "14:00"]]}
        )
    async with kernel.db.transaction() as session:
        exception = await calendars_service.add_exception(
            session, ACTOR, calendar_id, day=date(2026, 12, 24), name="平安夜", hours=[["09:00", "15:00"]]
        )
    async with kernel.db.transaction() as session:
        await calendars_service.remove_exception(session, ACTOR, calendar_id, exception.id)
    async with kernel.db.transaction() as session:
        await calendars_service.delete_calendar(session, ACTOR, calendar_id)
    async with kernel.db.reader() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_type == "calendar", AuditEntry.target_id == str(calendar_id))
                .order_by(AuditEntry.id)
            )
        )
        with pytest.raises(NotFound):
            await get_calendar(session, calendar_id)
    assert actions == [
        "calendar.created",
        "calendar.changed",
        "calendar.exception_added",
        "calendar.exception_removed",
        "calendar.deleted",
    ]
    assert [e.action for e in seen] == [
        "created",
        "changed",
        "exception_added",
        "exception_removed",
        "deleted",
    ]
    assert seen[1].changed == ("weekly_hours",)
    assert all(e.topics() == ("calendars",) for e in seen)


async def test_an_unchanged_update_writes_nothing(kernel: Kernel) -> None:
    calendar_id = await create(kernel)
    async with kernel.db.transaction() as session:
        await calendars_service.update_calendar(
            session, ACTOR, calendar_id, name="Office", weekly_hours={"1": WORKDAY}, cn_public_holidays=True
        )
    async with kernel.db.reader() as session:
        count = len(
            list(await session.scalars(select(AuditEntry.id).where(AuditEntry.target_type == "calendar")))
        )
    assert count == 1


async def test_exceptions_are_validated(kernel: Kernel) -> None:
    calendar_id = await create(kernel)
    async with kernel.db.transaction() as session:
        await calendars_service.add_exception(session, ACTOR, calendar_id, day=date(2026, 10, 9), name="年会")
    cases: list[tuple[dict[str, Any], type[Exception], str | None]] = [
        ({"day": date(2026, 10, 9), "name": "again"}, Conflict, None),
        ({"day": date(1900, 1, 1), "name": "old"}, InvalidInput, "day"),
        ({"day": date(2026, 10, 10), "name": ""}, InvalidInput, "name"),
        ({"day": date(2026, 10, 10), "name": "x", "hours": [["18:00", "09:00"]]}, InvalidInput, "hours"),
    ]
    for values, error, field in cases:
        with pytest.raises(error) as caught:
            async with kernel.db.transaction() as session:
                await calendars_service.add_exception(session, ACTOR, calendar_id, **values)
        if field is not None:
            assert isinstance(caught.value, InvalidInput)
            assert caught.value.errors[0]["field"] == field
    with pytest.raises(NotFound):
        async with kernel.db.transaction() as session:
            await calendars_service.add_exception(session, ACTOR, 999_999, day=date(2026, 1, 5), name="x")
    with pytest.raises(NotFound):
        async with kernel.db.transaction() as session:
            await calendars_service.remove_exception(session, ACTOR, calendar_id, 999_999)


async def test_the_workspace_default_can_be_deleted(kernel: Kernel) -> None:
    calendar_id = await create(kernel)
    async with kernel.db.transaction() as session:
        await admin_service.update_workspace_settings(session, ACTOR, default_calendar_id=calendar_id)
    async with kernel.db.transaction() as session:
        await calendars_service.delete_calendar(session, ACTOR, calendar_id)
    async with kernel.db.reader() as session:
        assert (await get_workspace_settings(session)).default_calendar_id is None


def test_typed_hours_are_parsed_leniently_and_checked_strictly() -> None:
    assert parse_hours_text(" 9:00-12:00， 13:00 – 18:00 ", field="f") == WORKDAY
    assert parse_hours_text("00:00-24:00", field="f") == [["00:00", "24:00"]]
    assert parse_hours_text("", field="f") == []
    for bad in ("9-12", "09:00-12:00, 11:00-14:00", "18:00-09:00", "09:00-24:30"):
        with pytest.raises(InvalidInput):
            parse_hours_text(bad, field="f")
