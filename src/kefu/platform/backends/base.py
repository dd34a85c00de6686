"""The broker interface every backend implements (and the contract tests check)."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class FeedItem:
    """One numbered message of a topic's feed; ``message`` is a JSON object's text."""

    topic: str
    seq: int
    message: str

    @cached_property
    def frame(self) -> str:
        """The item as the ``event`` frame sockets get: built once, sent to every follower.

        ``{"type": "event", "topic": …, "id": seq, …the message's own keys…}``
        """
        head = f'{{"type": "event", "topic": {json.dumps(self.topic)}, "id": {self.seq}'
        body = self.message.strip()
        if body.startswith("{") and body != "{}":
            return f"{head}, {body[1:]}"
        return json.dumps({"type": "event", "topic": self.topic, "id": self.seq, "data": body})


class Subscription(Generic[T]):
    """Messages for one local subscriber, in arrival order; use as ``async with`` + ``async for``."""

    def __init__(self, on_close: Callable[[Subscription[T]], None], maxsize: int = 10_000) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=maxsize)
        self._on_close = on_close
        self.overflowed = False

    def put(self, item: T) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # A subscriber that does not keep up loses live messages; feed subscribers
            # notice the sequence gap and catch up from the history.
            self.overflowed = True

    async def get(self) -> T:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            yield await self._queue.get()

    async def __aenter__(self) -> Subscription[T]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._on_close(self)


ReconnectCallback = Callable[[], Awaitable[None]]


class Broker(ABC):
    """Publish/subscribe plus a sequenced, bounded per-topic history (the feed)."""

    def __init__(self) -> None:
        self._reconnect_callbacks: list[ReconnectCallback] = []

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise when the broker is unreachable."""

    @abstractmethod
    async def publish(self, channel: str, message: str) -> None: ...

    @abstractmethod
    def subscribe(self, channel: str) -> Subscription[str]: ...

    @abstractmethod
    def subscribe_feed(self) -> Subscription[FeedItem]: ...

    @abstractmethod
    async def append(self, topic: str, message: str) -> int:
        """Store ``message`` as the next item of ``topic``, publish it on the feed, return its number."""

    @abstractmethod
    async def head(self, topic: str) -> int:
        """The number of the newest item of ``topic`` (0 when it has none)."""

    @abstractmethod
    async def read_after(self, topic: str, after: int) -> list[FeedItem] | None:
        """Items of ``topic`` numbered above ``after``, oldest first; None when the history has a gap."""

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        """Called after the broker lost and regained its connection (live messages may be missing)."""
        self._reconnect_callbacks.append(callback)

    async def _notify_reconnected(self) -> None:
        for callback in self._reconnect_callbacks:
            await callback()
