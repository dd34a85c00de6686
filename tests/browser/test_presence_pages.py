"""An agent who leaves the inbox for another page stays available.

Presence goes offline after 90 s without a heartbeat ("last tab closed"). The inbox pages send
heartbeats (workspace.js); every other signed-in page does too (presence.js on the base
layout), so an agent editing quick replies for a few minutes keeps receiving chats. The
supervisor's board still updates live with the script loaded once, from the layout.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Request, expect

from tests.browser.conftest import Kefu, OpenTab
from tests.browser.test_live_chat import AGENT_EMAIL, agent_online, login_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SUPERVISOR_EMAIL = "supervisor@kefu.example"


def _heartbeat(request: Request) -> bool:
    return request.method == "POST" and request.url.endswith("/api/v1/presence/heartbeat")


async def test_an_agent_on_another_page_keeps_sending_heartbeats(kefu: Kefu, open_tab: OpenTab) -> None:
    agent = await open_tab(kefu, "agent")
    await agent.login(login_of(kefu, AGENT_EMAIL))
    await agent.goto("/inbox")
    await agent_online(agent)
    # The inbox sends its own heartbeats: the layout's are off there (no double beats).
    await expect(agent.page.locator("body[data-presence-heartbeat]")).to_have_count(0)

    async with agent.page.expect_request(_heartbeat) as beat:
        await agent.goto("/replies")
    answer = await (await beat.value).response()
    assert answer is not None
    assert answer.status == 204
    await expect(agent.page.locator("body[data-presence-heartbeat]")).to_have_count(1)
    await agent.assert_clean()


async def test_the_supervisor_board_follows_states_live(kefu: Kefu, open_tab: OpenTab) -> None:
    supervisor = await open_tab(kefu, "supervisor")
    await supervisor.login(login_of(kefu, SUPERVISOR_EMAIL))
    await supervisor.goto("/supervisor/presence")
    agent = await open_tab(kefu, "agent")
    await agent.login(login_of(kefu, AGENT_EMAIL))
    await agent.goto("/inbox")
    await agent_online(agent)
    row = supervisor.page.locator("#presence-table tr", has_text="张三")
    await expect(row).to_contain_text("在线", timeout=20_000)
    await agent.page.locator("#ws-presence-state").select_option("busy")
    await expect(row).to_contain_text("忙碌", timeout=20_000)  # no reload: the hub told the board
    await supervisor.shot("01-board-live", full_page=False)
    await supervisor.assert_clean()
    await agent.assert_clean()
