"""`kefu serve` as a user runs it: first run with the demo, restarts keep everything, and
two nodes on one PostgreSQL + Redis see each other's events."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from kefu.accounts.access import Role
from kefu.settings import Settings
from tests.conftest import ON_POSTGRES, REDIS_URL, make_settings
from tests.factories import Factory, csrf_from
from tests.live import ServerProcess, running, settings_env

pytestmark = pytest.mark.slow


def _login(base: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base)
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    return client


def test_first_run_creates_the_demo_and_prints_working_logins(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path / "data", db_url)
    server = ServerProcess(settings_env(settings), args=(), log=tmp_path / "serve.log")
    with running(server):
        output = server.log()
        match = re.search(r"admin\s+(\S+@\S+)\s+password: (\S+)", output)
        assert match, output
        browser = _login(server.url, match.group(1), match.group(2))
        users = browser.get("/admin/users")
        assert users.status_code == 200
        assert "王主管" in users.text  # the demo supervisor
        assert "售后服务" in users.text  # a demo team
    assert (settings.data_dir / "demo-logins.txt").read_text(encoding="utf-8").count("@kefu.example") == 6
    assert "kefu is running at" in output


def test_a_restart_keeps_everything(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path / "data", db_url)
    env = settings_env(settings)
    server = ServerProcess(env, args=(), log=tmp_path / "serve.log")
    with running(server):
        match = re.search(r"admin\s+(\S+@\S+)\s+password: (\S+)", server.log())
        assert match
        email, password = match.group(1), match.group(2)
        browser = _login(server.url, email, password)
        created = browser.post(
            "/api/v1/teams", json={"name": "重启前的团队"}, headers={"X-CSRF-Token": _csrf(browser)}
        )
        assert created.status_code == 201, created.text
    again = ServerProcess(env, args=(), log=tmp_path / "serve2.log")
    with running(again):
        assert "Demo workspace created" not in again.log()
        browser = _login(again.url, email, password)
        teams = browser.get("/api/v1/teams").json()
        assert "重启前的团队" in [t["name"] for t in teams]


def _csrf(client: httpx.Client) -> str:
    return csrf_from(client.get("/account").text)


@pytest.mark.skipif(
    not (ON_POSTGRES and REDIS_URL), reason="needs KEFU_DATABASE_URL=postgresql… and KEFU_REDIS_URL"
)
async def test_two_nodes_on_one_postgres_and_redis_see_each_others_events(
    tmp_path: Path, settings: Settings, factory: Factory
) -> None:
    admin = await factory.user(Role.admin)
    headers = await factory.token(admin)
    env = settings_env(settings)
    node_a = ServerProcess(env, log=tmp_path / "a.log")
    node_b = ServerProcess(env, log=tmp_path / "b.log")
    with running(node_a), running(node_b):
        address_b = node_b.url.removeprefix("http://")
        async with connect(f"ws://{address_b}/api/v1/realtime", additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await ws.send(json.dumps({"type": "subscribe", "topic": "users"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            async with httpx.AsyncClient(base_url=node_a.url, headers=headers) as api_a:
                created = await api_a.post(
                    "/api/v1/users", json={"email": "cross@example.com", "name": "跨节点", "role": "agent"}
                )
                assert created.status_code == 201, created.text
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert event["type"] == "event"
    assert event["event"] == "user.created"
    assert event["data"]["email"] == "cross@example.com"
