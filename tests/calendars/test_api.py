"""The business hours API: CRUD, exceptions, status, permissions and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kefu.accounts.access import Role
from tests.factories import Factory

WORKDAY = [["09:00", "12:00"], ["13:00", "18:00"]]
OFFICE: dict[str, Any] = {
    "name": "Office",
    "timezone": "Asia/Shanghai",
    "weekly_hours": {str(day): WORKDAY for day in range(1, 6)},
    "cn_public_holidays": True,
}


async def admin_headers(factory: Factory) -> dict[str, str]:
    return await factory.token(await factory.user(Role.admin))


async def test_create_read_update_delete(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    created = await client.post("/api/v1/calendars", json=OFFICE, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Office"
    assert body["weekly_hours"]["1"] == WORKDAY
    assert body["exceptions"] == []
    calendar_id = body["id"]

    listed = await client.get("/api/v1/calendars", headers=headers)
    assert [c["id"] for c in listed.json()] == [calendar_id]

    changed = await client.patch(
        f"/api/v1/calendars/{calendar_id}",
        json={"name": "Office (CN)", "weekly_hours": {"6": [["10:00", "14:00"]]}},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Office (CN)"
    assert changed.json()["weekly_hours"] == {"6": [["10:00", "14:00"]]}
    assert changed.json()["cn_public_holidays"] is True

    exception = await client.post(
        f"/api/v1/calendars/{calendar_id}/exceptions",
        json={"day": "2026-10-02", "name": "国庆值班", "hours": [["10:00", "16:00"]]},
        headers=headers,
    )
    assert exception.status_code == 201, exception.text
    assert exception.json()["closed"] is False
    fetched = await client.get(f"/api/v1/calendars/{calendar_id}", headers=headers)
    assert [e["name"] for e in fetched.json()["exceptions"]] == ["国庆值班"]

    removed = await client.delete(
        f"/api/v1/calendars/{calendar_id}/exceptions/{exception.json()['id']}", headers=headers
    )
    assert removed.status_code == 204
    again = await client.delete(
        f"/api/v1/calendars/{calendar_id}/exceptions/{exception.json()['id']}", headers=headers
    )
    assert again.status_code == 404

    deleted = await client.delete(f"/api/v1/calendars/{calendar_id}", headers=headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/calendars/{calendar_id}", headers=headers)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")


async def test_status_endpoint(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    calendar_id = (await client.post("/api/v1/calendars", json=OFFICE, headers=headers)).json()["id"]
    url = f"/api/v1/calendars/{calendar_id}/status"

    holiday = await client.get(url, params={"at": "2026-10-01T10:00:00+08:00"}, headers=headers)
    assert holiday.status_code == 200, holiday.text
    assert holiday.json()["open"] is False
    assert holiday.json()["reason"] == "holiday"
    assert holiday.json()["reason_label"] == "国庆节"
    assert holiday.json()["next_change"] == "2026-10-08T01:00:00Z"

    makeup = await client.get(url, params={"at": "2026-10-10T02:00:00Z"}, headers=headers)
    assert makeup.json()["open"] is True
    assert makeup.json()["reason_label"] == "调休上班"
    assert makeup.json()["next_change"] == "2026-10-10T04:00:00Z"

    naive = await client.get(url, params={"at": "2026-10-09T02:00:00"}, headers=headers)  # taken as UTC
    assert naive.json()["open"] is True

    now = await client.get(url, headers=headers)
    assert now.status_code == 200
    assert isinstance(now.json()["open"], bool)

    days = await client.get(
        f"/api/v1/calendars/{calendar_id}/days", params={"start": "2026-10-07", "days": 4}, headers=headers
    )
    assert [(d["day"], d["open"], d["reason"]) for d in days.json()] == [
        ("2026-10-07", False, "holiday"),
        ("2026-10-08", True, "open"),
        ("2026-10-09", True, "open"),
        ("2026-10-10", True, "makeup_workday"),
    ]


@pytest.mark.parametrize(
    "params",
    [{"at": "not-a-date"}, {"at": "9999-12-31T23:59:59+00:00"}, {"at": "0001-01-01T00:00:00-12:00"}],
)
async def test_status_rejects_bad_moments(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, str]
) -> None:
    headers = await admin_headers(factory)
    calendar_id = (await client.post("/api/v1/calendars", json=OFFICE, headers=headers)).json()["id"]
    response = await client.get(f"/api/v1/calendars/{calendar_id}/status", params=params, headers=headers)
    assert response.status_code == 422, response.text


async def test_agent_may_view_but_not_change(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = await admin_headers(factory)
    calendar_id = (await client.post("/api/v1/calendars", json=OFFICE, headers=admin)).json()["id"]
    agent = await factory.token(await factory.user(Role.agent))
    assert (await client.get("/api/v1/calendars", headers=agent)).status_code == 200
    assert (await client.get(f"/api/v1/calendars/{calendar_id}", headers=agent)).status_code == 200
    assert (await client.get(f"/api/v1/calendars/{calendar_id}/status", headers=agent)).status_code == 200
    writes = [
        client.post("/api/v1/calendars", json={**OFFICE, "name": "Mine"}, headers=agent),
        client.patch(f"/api/v1/calendars/{calendar_id}", json={"name": "Mine"}, headers=agent),
        client.delete(f"/api/v1/calendars/{calendar_id}", headers=agent),
        client.post(
            f"/api/v1/calendars/{calendar_id}/exceptions",
            json={"day": "2026-10-09", "name": "x"},
            headers=agent,
        ),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 403, response.text
    assert (await client.get(f"/api/v1/calendars/{calendar_id}", headers=admin)).json()["name"] == "Office"


async def test_read_only_token_of_an_admin_cannot_write(client: httpx.AsyncClient, factory: Factory) -> None:
    reader = await factory.token(await factory.user(Role.admin), ["read"])
    assert (await client.get("/api/v1/calendars", headers=reader)).status_code == 200
    assert (await client.post("/api/v1/calendars", json=OFFICE, headers=reader)).status_code == 403


async def test_unauthenticated_requests_get_401(client: httpx.AsyncClient) -> None:
    bogus = {"Authorization": "Bearer kefu_not-a-real-token"}
    for response in (
        await client.get("/api/v1/calendars"),
        await client.get("/api/v1/calendars/1/status"),
        await client.post("/api/v1/calendars", json=OFFICE, headers=bogus),
        await client.delete("/api/v1/calendars/1", headers=bogus),
    ):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/calendars/0",
        "/api/v1/calendars/2147483648",
        "/api/v1/calendars/99999999999999999999999",
        "/api/v1/calendars/-1/status",
        "/api/v1/calendars/abc",
    ],
)
async def test_out_of_range_ids_are_refused(client: httpx.AsyncClient, factory: Factory, path: str) -> None:
    headers = await admin_headers(factory)
    response = await client.get(path, headers=headers)
    assert response.status_code == 422, response.text
    deleted = await client.delete(path.removesuffix("/status") + "/exceptions/2147483648", headers=headers)
    assert deleted.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**OFFICE, "timezone": "Mars/Olympus"}, "timezone"),
        ({**OFFICE, "weekly_hours": {"1": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "weekly_hours.1"),
        ({**OFFICE, "weekly_hours": {"1": [["9am", "5pm"]]}}, "weekly_hours.1"),
        ({**OFFICE, "weekly_hours": {"8": WORKDAY}}, None),
        ({**OFFICE, "weekly_hours": {"1": [["09:00", "12:00", "13:00"]]}}, None),
        ({**OFFICE, "name": "bad\u0000name"}, None),
        ({**OFFICE, "name": ""}, None),
        ({**OFFICE, "surprise": True}, None),
    ],
)
async def test_bad_bodies_get_422(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str | None
) -> None:
    response = await client.post("/api/v1/calendars", json=body, headers=await admin_headers(factory))
    assert response.status_code == 422, response.text
    if field is not None:
        assert response.json()["errors"][0]["field"] == field


async def test_duplicate_names_and_dates_conflict(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = await admin_headers(factory)
    calendar_id = (await client.post("/api/v1/calendars", json=OFFICE, headers=headers)).json()["id"]
    duplicate = await client.post("/api/v1/calendars", json={**OFFICE, "name": "OFFICE"}, headers=headers)
    assert duplicate.status_code == 409
    url = f"/api/v1/calendars/{calendar_id}/exceptions"
    assert (
        await client.post(url, json={"day": "2026-10-09", "name": "a"}, headers=headers)
    ).status_code == 201
    assert (
        await client.post(url, json={"day": "2026-10-09", "name": "b"}, headers=headers)
    ).status_code == 409
    far = await client.post(url, json={"day": "9999-12-31", "name": "c"}, headers=headers)
    assert far.status_code == 422
    missing = await client.post(
        "/api/v1/calendars/2147483647/exceptions", json={"day": "2026-10-09", "name": "a"}, headers=headers
    )
    assert missing.status_code == 404
