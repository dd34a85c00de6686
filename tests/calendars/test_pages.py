"""The business hours pages, through the real HTTP stack with CSRF."""

from __future__ import annotations

import re
from typing import Any

import httpx

from kefu.accounts.access import Role
from kefu.calendars import get_calendar, list_calendars
from kefu.platform.kernel import Kernel
from tests.factories import Factory, post_form

FORM: dict[str, Any] = {
    "name": "Office",
    "timezone": "Asia/Shanghai",
    "hours_1": "09:00-12:00, 13:00-18:00",
    "hours_2": "9:00-18:00",
    "hours_3": "",
    "hours_4": "",
    "hours_5": "",
    "hours_6": "",
    "hours_7": "",
    "cn_public_holidays": "1",
}


async def login_admin(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.login(client, await factory.user(Role.admin))


async def create_through_form(client: httpx.AsyncClient, **overrides: Any) -> int:
    response = await post_form(client, "/admin/calendars", {**FORM, **overrides})
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/admin/calendars/(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


async def test_create_edit_and_delete_through_the_forms(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login_admin(client, factory)
    new = await client.get("/admin/calendars/new")
    assert new.status_code == 200
    assert 'name="hours_7"' in new.text

    calendar_id = await create_through_form(client)
    page = await client.get(f"/admin/calendars/{calendar_id}")
    assert page.status_code == 200
    assert "The business hours Office were created." in page.text
    assert 'value="09:00-12:00, 13:00-18:00"' in page.text
    assert "Next 14 days" in page.text
    async with kernel.db.reader() as session:
        stored = await get_calendar(session, calendar_id)
    assert stored.weekly_hours == {"1": [["09:00", "12:00"], ["13:00", "18:00"]], "2": [["09:00", "18:00"]]}
    assert stored.cn_public_holidays is True

    saved = await post_form(
        client,
        f"/admin/calendars/{calendar_id}",
        {**FORM, "hours_2": "", "hours_6": "10:00-14:00", "cn_public_holidays": ""},
    )
    assert saved.status_code == 303
    async with kernel.db.reader() as session:
        stored = await get_calendar(session, calendar_id)
    assert stored.weekly_hours == {"1": [["09:00", "12:00"], ["13:00", "18:00"]], "6": [["10:00", "14:00"]]}
    assert stored.cn_public_holidays is False

    listing = await client.get("/admin/calendars")
    assert listing.status_code == 200
    assert f'href="/admin/calendars/{calendar_id}"' in listing.text
    assert "Asia/Shanghai" in listing.text

    deleted = await post_form(client, f"/admin/calendars/{calendar_id}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/admin/calendars"
    async with kernel.db.reader() as session:
        assert list(await list_calendars(session)) == []
    assert (await client.get(f"/admin/calendars/{calendar_id}")).status_code == 404


async def test_bad_hours_re_render_the_form_with_field_errors(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login_admin(client, factory)
    bad = await post_form(client, "/admin/calendars", {**FORM, "hours_1": "09:00-13:00, 12:00-18:00"})
    assert bad.status_code == 422
    assert "Openings on one day must not overlap." in bad.text
    assert 'value="09:00-13:00, 12:00-18:00"' in bad.text  # what was typed is kept
    zone = await post_form(client, "/admin/calendars", {**FORM, "timezone": "Mars/Olympus"})
    assert zone.status_code == 422
    assert "Choose a time zone from the list." in zone.text
    calendar_id = await create_through_form(client)
    duplicate = await post_form(client, "/admin/calendars", {**FORM, "name": "office"})
    assert duplicate.status_code == 422
    assert "Business hours with this name already exist." in duplicate.text
    edit = await post_form(client, f"/admin/calendars/{calendar_id}", {**FORM, "hours_3": "later"})
    assert edit.status_code == 422
    assert "Write openings like 09:00-12:00, 13:00-18:00." in edit.text
    async with kernel.db.reader() as session:
        assert len(await list_calendars(session)) == 1


async def test_add_and_remove_an_exception(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login_admin(client, factory)
    calendar_id = await create_through_form(client)
    url = f"/admin/calendars/{calendar_id}/exceptions"
    added = await post_form(
        client,
        url,
        {
            "day": "2026-10-02",
            "exception_name": "国庆值班",
            "kind": "hours",
            "exception_hours": "10:00-16:00",
        },
    )
    assert added.status_code == 303, added.text
    closed = await post_form(client, url, {"day": "2026-12-31", "exception_name": "年会", "kind": "closed"})
    assert closed.status_code == 303
    page = await client.get(f"/admin/calendars/{calendar_id}")
    assert "国庆值班" in page.text
    assert "10:00-16:00" in page.text
    assert "年会" in page.text

    missing_hours = await post_form(
        client, url, {"day": "2026-11-11", "exception_name": "x", "kind": "hours"}
    )
    assert missing_hours.status_code == 422
    assert "Enter the special hours, or choose closed." in missing_hours.text
    bad_date = await post_form(client, url, {"day": "11/11/2026", "exception_name": "x", "kind": "closed"})
    assert bad_date.status_code == 422
    assert "Enter the date as YYYY-MM-DD." in bad_date.text
    twice = await post_form(client, url, {"day": "2026-12-31", "exception_name": "again", "kind": "closed"})
    assert twice.status_code == 422
    assert "This date already has an exception" in twice.text

    async with kernel.db.reader() as session:
        exceptions = (await get_calendar(session, calendar_id)).exceptions
    assert [(e.name, e.hours) for e in exceptions] == [("国庆值班", [["10:00", "16:00"]]), ("年会", [])]
    removed = await post_form(client, f"{url}/{exceptions[0].id}/delete", {})
    assert removed.status_code == 303
    async with kernel.db.reader() as session:
        assert [e.name for e in (await get_calendar(session, calendar_id)).exceptions] == ["年会"]
    assert (await post_form(client, f"{url}/{exceptions[0].id}/delete", {})).status_code == 404
    assert (await post_form(client, f"{url}/99999999999/delete", {})).status_code == 404


async def test_html_in_a_name_is_shown_escaped(client: httpx.AsyncClient, factory: Factory) -> None:
    await login_admin(client, factory)
    calendar_id = await create_through_form(client, name="<script>alert(1)</script>")
    await post_form(
        client,
        f"/admin/calendars/{calendar_id}/exceptions",
        {"day": "2026-10-09", "exception_name": "<b>年会</b>", "kind": "closed"},
    )
    for path in ("/admin/calendars", f"/admin/calendars/{calendar_id}"):
        page = await client.get(path)
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;年会&lt;/b&gt;" in page.text


async def test_agents_see_the_hours_without_edit_controls(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, factory: Factory
) -> None:
    await login_admin(client, factory)
    calendar_id = await create_through_form(client)
    await factory.login(other_client, await factory.user(Role.agent))
    listing = await other_client.get("/admin/calendars")
    assert listing.status_code == 200
    assert "Office" in listing.text
    assert "/admin/calendars/new" not in listing.text
    page = await other_client.get(f"/admin/calendars/{calendar_id}")
    assert page.status_code == 200
    assert "09:00-12:00, 13:00-18:00" in page.text
    assert 'name="hours_1"' not in page.text
    assert "/delete" not in page.text
    assert f'action="/admin/calendars/{calendar_id}/exceptions"' not in page.text
    assert (await other_client.get("/admin/calendars/new")).status_code == 403
    for path in (
        f"/admin/calendars/{calendar_id}",
        f"/admin/calendars/{calendar_id}/delete",
        "/admin/calendars",
    ):
        assert (await post_form(other_client, path, FORM)).status_code == 403


async def test_pages_need_a_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/calendars")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_control_characters_in_the_form_are_refused_not_stored(
    client: httpx.AsyncClient, factory: Factory, kernel: Kernel
) -> None:
    await login_admin(client, factory)
    for overrides in ({"name": "a\x00b"}, {"timezone": "Asia/Shanghai\x00"}, {"hours_1": "09:00-12:00\x00"}):
        response = await post_form(client, "/admin/calendars", {**FORM, **overrides})
        assert response.status_code == 422, overrides
    calendar_id = await create_through_form(client)
    response = await post_form(
        client,
        f"/admin/calendars/{calendar_id}/exceptions",
        {"day": "2026-10-09\x00", "exception_name": "x\x00", "kind": "closed"},
    )
    assert response.status_code == 422
    async with kernel.db.reader() as session:
        assert [c.name for c in await list_calendars(session)] == ["Office"]
