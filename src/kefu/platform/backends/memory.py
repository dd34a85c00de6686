"""In-process broker: the default when no Redis is configured (one node)."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

from kefu.platform.backends.base import Broker, FeedItem, Subscription


@dataclass
class _Space:
    channels: dict[str, list[Subscription[str]]] = field(default_factory=lambda: defaultdict(list))
    feed: list[Subscription[FeedItem]] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    history: dict[str, deque[FeedItem]] = field(default_factory=dict)


# Brokers created with the same URL in one process share a space, as two clients of one
# Redis share a server; that is what lets the contract tests treat both backends alike.
_SPACES: dict[str, _Space] = {}


class MemoryBroker(Broker):
    def __init__(self, url: str = "memory://", *, history: int = 500) -> None:
        super().__init__()
        self._space = _SPACES.setdefault(url, _Space())
        self._history = history
        self._mine: list[Subscription[str] | Subscription[FeedItem]] = []

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        for sub in list(self._mine):
            self._remove(sub)

    async def ping(self) -> None:
        return None

    async def publish(self, channel: str, message: str) -> None:
        for sub in list(self._space.channels.get(channel, ())):
            sub.put(message)

    def subscribe(self, channel: str) -> Subscription[str]:
        sub: Subscription[str] = Subscription(self._remove)
        self._space.channels[channel].append(sub)
        self._mine.append(sub)
        return sub

    def subscribe_feed(self) -> Subscription[FeedItem]:
        sub: Subscription[FeedItem] = Subscription(self._remove)
        self._space.feed.append(sub)
        self._mine.append(sub)
        return sub

    def _remove(self, sub: Subscription[str] | Subscription[FeedItem]) -> None:
        for subs in self._space.channels.values():
            if sub in subs:
                subs.remove(sub)  # type: ignore[arg-type]  # identity match across both queues' types
        if sub in self._space.feed:
            self._space.feed.remove(sub)  # type: ignore[arg-type]  # same
        if sub in self._mine:
            self._mine.remove(sub)

    async def append(self, topic: str, message: str) -> int:
        self._space.heads[topic] += 1
        item = FeedItem(topic, self._space.heads[topic], message)
        self._space.history.setdefault(topic, deque(maxlen=self._history)).append(item)
        for sub in list(self._space.feed):
            sub.put(item)
        return item.seq

    async def head(self, topic: str) -> int:
        return self._space.heads.get(topic, 0)

    async def read_after(self, topic: str, after: int) -> list[FeedItem] | None:
        head = self._space.heads.get(topic, 0)
        if after > head or after < 0:
            return None
        items = self._space.history.get(topic, deque())
        if after < head and (not items or items[0].seq > after + 1):
            return None
        return [item for item in items if item.seq > after]
