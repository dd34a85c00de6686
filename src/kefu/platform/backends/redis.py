"""Redis broker: events and wake-ups shared by every node on one Redis (scale-out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kefu.platform.backends.base import Broker, FeedItem, Subscription

log = logging.getLogger(__name__)

# Numbering, storing, trimming and publishing happen in one script so the order of
# numbers is the order in which every node receives the items.
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, seq .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], ARGV[4] .. '\\n' .. seq .. '\\n' .. ARGV[1])
return seq
"""

_READ_AFTER = """
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local items = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
local low = 0
if oldest[2] then low = tonumber(oldest[2]) end
return {head, low, items}
"""

_FEED_CHANNEL = "feed"


class RedisBroker(Broker):
    def __init__(
        self, url: str, *, prefix: str = "kefu", history: int = 500, history_ttl: int = 86400
    ) -> None:
        super().__init__()
        self._url = url
        self._prefix = prefix
        self._history = history
        self._ttl = history_ttl
        # Named, so an operator sees kefu's connections in CLIENT LIST.
        self._client: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True, client_name=prefix)
        self._channels: dict[str, list[Subscription[str]]] = defaultdict(list)
        self._feed: list[Subscription[FeedItem]] = []
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._append = self._client.register_script(_APPEND)
        self._read = self._client.register_script(_READ_AFTER)

    def _key(self, kind: str, topic: str) -> str:
        return f"{self._prefix}:{kind}:{{{topic}}}"

    def _channel(self, name: str) -> str:
        return f"{self._prefix}:ch:{name}"

    async def connect(self) -> None:
        await self._client.ping()
        self._reader = asyncio.create_task(self._read_loop(), name="kefu-redis-broker")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self._client.aclose()

    async def ping(self) -> None:
        await self._client.ping()

    async def publish(self, channel: str, message: str) -> None:
        await self._client.publish(self._channel(channel), message)

    def subscribe(self, channel: str) -> Subscription[str]:
        sub: Subscription[str] = Subscription(self._remove)
        first = not self._channels[channel]
        self._channels[channel].append(sub)
        if first and self._pubsub is not None:
            # Fire-and-forget is fine: until Redis confirms, nothing was published for us yet.
            asyncio.get_running_loop().create_task(self._pubsub.subscribe(self._channel(channel)))
        return sub

    def subscribe_feed(self) -> Subscription[FeedItem]:
        sub: Subscription[FeedItem] = Subscription(self._remove)
        self._feed.append(sub)
        return sub

    def _remove(self, sub: Subscription[Any]) -> None:
        for subs in self._channels.values():
            if sub in subs:
                subs.remove(sub)
        if sub in self._feed:
            self._feed.remove(sub)

    async def append(self, topic: str, message: str) -> int:
        keys = [self._key("seq", topic), self._key("hist", topic), self._channel(_FEED_CHANNEL)]
        seq = await self._append(keys=keys, args=[message, self._history, self._ttl, topic])
        return int(seq)

    async def head(self, topic: str) -> int:
        value = await self._client.get(self._key("seq", topic))
        return int(value or 0)

    async def read_after(self, topic: str, after: int) -> list[FeedItem] | None:
        head, low, raw = await self._read(
            keys=[self._key("seq", topic), self._key("hist", topic)], args=[after]
        )
        head, low = int(head), int(low)
        if after > head or after < 0:
            return None
        if after < head and (not raw or low > after + 1):
            return None
        items = []
        for member in raw:
            seq, _, message = member.partition(":")
            items.append(FeedItem(topic, int(seq), message))
        return items

    async def _read_loop(self) -> None:
        delay = 0.5
        first = True
        while True:
            try:
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.subscribe(self._channel(_FEED_CHANNEL))
                for name, subs in self._channels.items():
                    if subs:
                        await self._pubsub.subscribe(self._channel(name))
                self._ready.set()
                if not first:
                    log.warning("redis broker reconnected")
                    await self._notify_reconnected()
                first, delay = False, 0.5
                while True:
                    message = await self._pubsub.get_message(timeout=5.0)
                    if message is not None:
                        self._deliver(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis broker connection lost (%s); retrying in %.1fs", exc, delay)
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _deliver(self, channel: str, data: str) -> None:
        if channel == self._channel(_FEED_CHANNEL):
            topic, seq, message = data.split("\n", 2)
            item = FeedItem(topic, int(seq), message)
            for feed_sub in list(self._feed):
                feed_sub.put(item)
            return
        name = channel.removeprefix(f"{self._prefix}:ch:")
        for sub in list(self._channels.get(name, ())):
            sub.put(data)
