"""The broker contract: every backend (memory://, redis://) passes the same tests."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kefu.platform.backends import Broker, Subscription, create_broker

REDIS_URL = os.environ.get("KEFU_REDIS_URL")
BACKENDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.skipif(not REDIS_URL, reason="KEFU_REDIS_URL unset")),
]
BrokerMaker = Callable[..., Broker]


@pytest.fixture(params=BACKENDS)
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerMaker]:
    """Makes connected brokers that share one space (one Redis, or one in-process name)."""
    space = uuid.uuid4().hex[:10]
    made: list[Broker] = []

    def make(history: int = 500) -> Broker:
        if request.param == "memory":
            broker = create_broker(f"memory://{space}", history=history)
        else:
            assert REDIS_URL
            broker = create_broker(REDIS_URL, prefix=f"kefu-contract-{space}", history=history)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()


async def _connected(make: BrokerMaker, **kwargs: int) -> Broker:
    broker = make(**kwargs)
    await broker.connect()
    return broker


async def _next(sub: Subscription[Any], seconds: float = 3.0) -> Any:
    return await asyncio.wait_for(sub.get(), seconds)


async def test_publish_reaches_subscribers_on_every_instance(make_broker: BrokerMaker) -> None:
    a = await _connected(make_broker)
    b = await _connected(make_broker)
    async with a.subscribe("jobs") as on_a, b.subscribe("jobs") as on_b, b.subscribe("other") as other:
        await asyncio.sleep(0.1)  # Redis confirms subscriptions asynchronously
        await a.publish("jobs", "wake")
        assert await _next(on_a) == "wake"
        assert await _next(on_b) == "wake"
        await a.publish("other", "x")
        assert await _next(other) == "x"
        assert on_b._queue.empty()


async def test_a_closed_subscription_receives_nothing(make_broker: BrokerMaker) -> None:
    broker = await _connected(make_broker)
    async with broker.subscribe("c") as sub:
        await asyncio.sleep(0.1)
    await broker.publish("c", "late")
    await asyncio.sleep(0.1)
    assert sub._queue.empty()


async def test_feed_numbers_items_per_topic_and_delivers_them_in_order(make_broker: BrokerMaker) -> None:
    a = await _connected(make_broker)
    b = await _connected(make_broker)
    async with b.subscribe_feed() as feed:
        seqs = [await a.append("conversation:1", f"m{i}") for i in range(5)]
        other = await a.append("conversation:2", "x")
        assert seqs == [1, 2, 3, 4, 5]
        assert other == 1
        got = [await _next(feed) for _ in range(6)]
    mine = [(item.seq, item.message) for item in got if item.topic == "conversation:1"]
    assert mine == [(1, "m0"), (2, "m1"), (3, "m2"), (4, "m3"), (5, "m4")]
    assert await b.head("conversation:1") == 5
    assert await b.head("never:used") == 0


async def test_history_fills_a_gap_or_says_it_cannot(make_broker: BrokerMaker) -> None:
    broker = await _connected(make_broker, history=5)
    for i in range(10):
        await broker.append("t:1", f"m{i + 1}")
    recent = await broker.read_after("t:1", 6)
    assert recent is not None
    assert [(i.seq, i.message) for i in recent] == [(7, "m7"), (8, "m8"), (9, "m9"), (10, "m10")]
    assert await broker.read_after("t:1", 10) == []
    assert await broker.read_after("t:1", 5) is not None  # 6..10 are all still kept
    assert await broker.read_after("t:1", 2) is None  # 3..5 were trimmed: the client must reload
    assert await broker.read_after("t:1", 99) is None  # ids from the future: the topic was reset
    assert await broker.read_after("fresh:1", 0) == []


async def test_messages_keep_their_bytes(make_broker: BrokerMaker) -> None:
    broker = await _connected(make_broker)
    text = '{"text": "你好\\n换行", "emoji": "🙂", "colon": "a:b"}'
    seq = await broker.append("t:2", text)
    items = await broker.read_after("t:2", seq - 1)
    assert items is not None
    assert items[0].message == text


@pytest.mark.skipif(not REDIS_URL, reason="KEFU_REDIS_URL unset")
async def test_redis_broker_recovers_from_a_dropped_connection() -> None:
    import redis.asyncio as aioredis

    assert REDIS_URL
    prefix = f"kefu-contract-{uuid.uuid4().hex[:8]}"
    broker = create_broker(REDIS_URL, prefix=prefix)
    await broker.connect()
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    broker.on_reconnect(on_reconnect)
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with broker.subscribe_feed() as feed:
            clients = (await admin.execute_command("CLIENT", "LIST", "TYPE", "pubsub")).decode()
            ours = [
                line.split()[0].split("=")[1] for line in clients.splitlines() if f"name={prefix} " in line
            ]
            assert ours, "the broker's pub/sub connection is not in CLIENT LIST"
            for client_id in ours:
                await admin.execute_command("CLIENT", "KILL", "ID", client_id)
            await asyncio.wait_for(reconnected.wait(), 10)
            await broker.append("t:3", "after the outage")
            item = await _next(feed)
            assert item.message == "after the outage"
    finally:
        await admin.aclose()
        await broker.close()


def test_unknown_broker_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported broker URL"):
        create_broker("kafka://somewhere")
