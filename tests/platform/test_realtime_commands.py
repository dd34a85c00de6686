"""Hub extensions features build on: client commands with replies, and unnumbered signals."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.access import Role
from kefu.platform.kernel import Kernel
from kefu.platform.realtime import CommandRejected, Subscriber
from tests.factories import Factory
from tests.platform.test_realtime import _browser, _cookie_header, _recv, _socket, _until, live

__all__ = ["live"]


async def _echo(subscriber: Subscriber, command: dict[str, Any]) -> dict[str, Any] | None:
    if command.get("fail") == "rejected":
        raise CommandRejected("nope", "Not like this.", hint="x")
    if command.get("fail") == "crash":
        raise RuntimeError("boom")
    if command.get("silent"):
        return None
    return {"type": "test.echoed", "who": subscriber.label, "n": command.get("n")}


async def test_a_feature_command_is_answered_on_the_same_socket(
    live: str, factory: Factory, kernel: Kernel
) -> None:
    assert kernel.hub is not None
    kernel.hub.add_command("test.echo", _echo)
    agent = await factory.user(Role.agent, name="李雷")
    browser = await _browser(live, factory, agent)
    async with await _socket(live, cookie=_cookie_header(browser)) as ws:
        await _until(ws, "hello")
        await ws.send('{"type": "test.echo", "n": 7, "ref": "r1"}')
        assert await _recv(ws) == {"type": "test.echoed", "who": "李雷", "n": 7, "ref": "r1"}
        await ws.send('{"type": "test.echo", "fail": "rejected", "ref": 2}')
        error = await _recv(ws)
        assert error == {"type": "error", "code": "nope", "detail": "Not like this.", "ref": 2, "hint": "x"}
        await ws.send('{"type": "test.echo", "fail": "crash"}')
        assert (await _recv(ws))["code"] == "internal"
        await ws.send('{"type": "test.echo", "silent": true}')
        await ws.send('{"type": "ping"}')
        assert (await _recv(ws))["type"] == "pong"  # no answer came for the silent command


def test_reserved_and_duplicate_command_types_are_refused(kernel: Kernel) -> None:
    assert kernel.hub is not None
    with pytest.raises(ValueError, match="taken"):
        kernel.hub.add_command("subscribe", _echo)
    kernel.hub.add_command("test.once", _echo)
    with pytest.raises(ValueError, match="taken"):
        kernel.hub.add_command("test.once", _echo)


async def test_signals_reach_followers_of_the_topic_without_an_id(
    live: str, factory: Factory, kernel: Kernel
) -> None:
    assert kernel.hub is not None
    admin = await factory.user(Role.admin)
    follower = await _browser(live, factory, admin)
    bystander_user = await factory.user(Role.admin)
    bystander = await _browser(live, factory, bystander_user)
    async with (
        await _socket(live, cookie=_cookie_header(follower)) as ws,
        await _socket(live, cookie=_cookie_header(bystander)) as other,
    ):
        await _until(ws, "hello")
        await _until(other, "hello")
        await ws.send('{"type": "subscribe", "topic": "users"}')
        await _until(ws, "subscribed")
        head = await kernel.broker.head("users")
        await kernel.hub.signal("users", "typing", {"who": "someone"})
        signal = await _until(ws, "signal")
        assert signal == {"type": "signal", "topic": "users", "event": "typing", "data": {"who": "someone"}}
        # Signals are not part of the numbered feed: the topic's head did not move.
        assert await kernel.broker.head("users") == head
        await other.send('{"type": "ping"}')
        assert (await _recv(other))["type"] == "pong"  # the non-follower got nothing before its pong
    with pytest.raises(ValueError, match="malformed"):
        await kernel.hub.signal("Bad Topic", "x", {})
