"""The realtime hub: one authenticated WebSocket per browser tab, subscribed to topics.

Events reach topics after commit (see :mod:`kefu.platform.events`); the hub appends them
to the broker's feed, which numbers them per topic and delivers them to every node, and
each node forwards them to its local sockets. A client that reconnects subscribes with the
last id it saw and gets what it missed, or a ``reload`` answer when the history no longer
reaches back that far: it then refetches the state over HTTP and carries on from the id
given. Per socket and topic, ids arrive strictly in order and never twice.

Wire protocol (JSON text frames):

client → server: ``{"type": "subscribe", "topic": "…", "last_id": 12}`` (``last_id``
optional), ``{"type": "unsubscribe", "topic": "…"}``, ``{"type": "ping"}``

server → client: ``hello``, ``subscribed`` (with ``last_id``), ``event`` (``topic``, ``id``,
``event``, ``data``), ``reload`` (``topic``, ``last_id``), ``error`` (``code``, ``detail``),
``pong``.

Features add two things on top. *Commands*: other message types are handed to the handler
a feature registered for that type (``hub.add_command``), whose answer goes back on the
same socket (e.g. the widget sends a chat message and gets its acknowledgement). *Signals*:
``hub.signal(topic, …)`` reaches the sockets following a topic on every node as
``{"type": "signal", "topic", "event", "data"}``, without a number and without history —
for what is stale a second later (typing, who is viewing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import starlette.websockets
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from kefu.platform.backends import Broker, FeedItem
from kefu.platform.errors import overloaded
from kefu.platform.events import Event
from kefu.platform.i18n import translate
from kefu.platform.observability import Metrics

log = logging.getLogger(__name__)

TOPIC_PATTERN = re.compile(r"^[a-z][a-z_]*(:[A-Za-z0-9_.\-]+){0,3}$")
MAX_TOPICS_PER_SOCKET = 200
# What sending to a socket raises once its client has gone (closed, or the connection dropped
# while a frame was on its way): the end of that socket, never an error of the server.
# (Starlette 1.x raises WebSocketDisconnected, a RuntimeError, for a send after the close.)
GONE: tuple[type[BaseException], ...] = (
    WebSocketDisconnect,
    getattr(starlette.websockets, "WebSocketDisconnected", WebSocketDisconnect),
)
REVOKED_EVENT = "auth.revoked"
REVOKED_PREFIX = json.dumps({"event": REVOKED_EVENT})[:-1]  # how publish() starts that message
CLOSE_UNAUTHENTICATED = 4401
CLOSE_OVERLOADED = 1013


@dataclass(frozen=True)
class Subscriber:
    """Who is on a socket, as the authenticator found them."""

    label: str
    private_topic: str
    still_valid: Callable[[], Awaitable[bool]]
    principal: Any = None


Authenticator = Callable[[WebSocket], Awaitable[Subscriber | None]]
TopicAuthorizer = Callable[[Subscriber, str], Awaitable[bool]]
CommandHandler = Callable[[Subscriber, dict[str, Any]], Awaitable[dict[str, Any] | None]]
SIGNAL_CHANNEL = "realtime.signals"
RESERVED_COMMANDS = frozenset({"ping", "subscribe", "unsubscribe"})


class CommandRejected(Exception):
    """A command handler refuses a command; the client gets an ``error`` frame with this code."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


@dataclass(eq=False)
class _Connection:
    websocket: WebSocket
    subscriber: Subscriber
    last: dict[str, int] = field(default_factory=dict)
    inbox: asyncio.Queue[FeedItem | None] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False


class RealtimeHub:
    def __init__(
        self,
        broker: Broker,
        *,
        authenticate: Authenticator,
        authorize: TopicAuthorizer,
        metrics: Metrics | None = None,
    ) -> None:
        self.broker = broker
        self.authenticate = authenticate
        self.authorize = authorize
        self.metrics = metrics
        self._by_topic: dict[str, set[_Connection]] = defaultdict(set)
        self._connections: set[_Connection] = set()
        self._feed_task: asyncio.Task[None] | None = None
        self._signal_task: asyncio.Task[None] | None = None
        self._commands: dict[str, CommandHandler] = {}
        broker.on_reconnect(self._catch_up_everyone)

    def add_command(self, kind: str, handler: CommandHandler) -> None:
        """Let clients send ``{"type": kind, …}``; the handler's answer is sent back to them."""
        if kind in RESERVED_COMMANDS or kind in self._commands:
            raise ValueError(f"command type {kind!r} is taken")
        self._commands[kind] = handler

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        ready = asyncio.Event()
        self._feed_task = asyncio.create_task(self._consume_feed(ready), name="kefu-realtime-feed")
        await ready.wait()
        signals_ready = asyncio.Event()
        self._signal_task = asyncio.create_task(
            self._consume_signals(signals_ready), name="kefu-realtime-signals"
        )
        await signals_ready.wait()

    async def stop(self) -> None:
        for task in (self._feed_task, self._signal_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.websocket.close(code=1001)

    # -- publishing --------------------------------------------------------------------------
    async def publish(self, topic: str, event: str, data: dict[str, Any]) -> int:
        if not TOPIC_PATTERN.match(topic):
            raise ValueError(f"malformed topic {topic!r}")
        seq = await self.broker.append(topic, json.dumps({"event": event, "data": data}, ensure_ascii=False))
        if self.metrics is not None:
            self.metrics.events.inc()
        return seq

    async def on_event(self, event: Event) -> None:
        """The dispatcher handler: every committed event goes to the topics it names."""
        topics = event.topics()
        if topics:
            payload = event.payload()
            for topic in topics:
                await self.publish(topic, event.name, payload)

    async def signal(self, topic: str, event: str, data: dict[str, Any]) -> None:
        """Send an unnumbered, unstored message to the followers of ``topic`` on every node."""
        if not TOPIC_PATTERN.match(topic):
            raise ValueError(f"malformed topic {topic!r}")
        await self.broker.publish(
            SIGNAL_CHANNEL, json.dumps({"topic": topic, "event": event, "data": data}, ensure_ascii=False)
        )

    async def _consume_signals(self, ready: asyncio.Event) -> None:
        async with self.broker.subscribe(SIGNAL_CHANNEL) as signals:
            ready.set()
            async for raw in signals:
                try:
                    body = json.loads(raw)
                    topic = body["topic"]
                except (ValueError, KeyError, TypeError):
                    continue
                frame = {
                    "type": "signal",
                    "topic": topic,
                    "event": body.get("event"),
                    "data": body.get("data"),
                }
                for conn in list(self._by_topic.get(topic, ())):
                    if not conn.closed:
                        with contextlib.suppress(Exception):
                            await self._send(conn, frame)

    # -- the feed from the broker ------------------------------------------------------------
    async def _consume_feed(self, ready: asyncio.Event) -> None:
        async with self.broker.subscribe_feed() as feed:
            ready.set()
            async for item in feed:
                for conn in self._by_topic.get(item.topic, ()):
                    # A full inbox drops the item: the connection sees the gap and catches up.
                    with contextlib.suppress(asyncio.QueueFull):
                        conn.inbox.put_nowait(item)

    async def _catch_up_everyone(self) -> None:
        for conn in list(self._connections):
            for topic in list(conn.last):
                with contextlib.suppress(Exception):
                    await self._catch_up(conn, topic)

    # -- one socket ----------------------------------------------------------------------------
    async def endpoint(self, websocket: WebSocket) -> None:
        if not _same_origin(websocket):
            await websocket.close(code=1008)
            return
        subscriber = await self.authenticate(websocket)
        await websocket.accept()
        if subscriber is None:
            await websocket.send_json(
                {"type": "error", "code": "not-authenticated", "detail": "Login required"}
            )
            await websocket.close(code=CLOSE_UNAUTHENTICATED)
            return
        conn = _Connection(websocket, subscriber)
        self._connections.add(conn)
        if self.metrics is not None:
            self.metrics.websockets.inc()
        pump = asyncio.create_task(self._pump(conn), name="kefu-realtime-pump")
        try:
            await self._send(conn, {"type": "hello", "subscriber": subscriber.label})
            await self._subscribe(conn, subscriber.private_topic, None, announce=False)
            await self._read_commands(conn)
        except GONE:
            pass
        finally:
            conn.closed = True
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, *GONE):
                await pump
            self._connections.discard(conn)
            for topic in list(conn.last):
                self._by_topic[topic].discard(conn)
                if not self._by_topic[topic]:
                    del self._by_topic[topic]
            if self.metrics is not None:
                self.metrics.websockets.dec()

    async def _read_commands(self, conn: _Connection) -> None:
        while True:
            raw = await conn.websocket.receive_text()
            try:
                command = json.loads(raw)
            except ValueError:
                await self._error(conn, "bad-request", "Messages must be JSON objects.")
                continue
            if not isinstance(command, dict):
                await self._error(conn, "bad-request", "Messages must be JSON objects.")
                continue
            kind = command.get("type")
            if kind == "ping":
                await self._send(conn, {"type": "pong"})
            elif kind == "subscribe":
                await self._on_subscribe(conn, command)
            elif kind == "unsubscribe":
                topic = command.get("topic")
                if isinstance(topic, str) and topic in conn.last and topic != conn.subscriber.private_topic:
                    del conn.last[topic]
                    self._by_topic[topic].discard(conn)
                await self._send(conn, {"type": "unsubscribed", "topic": topic})
            elif isinstance(kind, str) and kind in self._commands:
                await self._run_command(conn, self._commands[kind], command)
            else:
                await self._error(conn, "bad-request", "Unknown message type.")

    async def _run_command(self, conn: _Connection, handler: CommandHandler, command: dict[str, Any]) -> None:
        ref = command.get("ref")
        echo = {"ref": ref} if isinstance(ref, str | int) and not isinstance(ref, bool) else {}
        try:
            reply = await handler(conn.subscriber, command)
        except CommandRejected as exc:
            await self._error(conn, exc.code, exc.detail, **echo, **exc.extra)
            return
        except Exception as exc:
            busy = overloaded(exc)
            if busy is None:
                log.exception("realtime command %r failed", command.get("type"))
                await self._error(conn, "internal", "The server could not handle this message.", **echo)
            else:
                log.warning("overloaded on realtime command %r: %s", command.get("type"), exc)
                await self._error(
                    conn, busy.code, translate(busy.message), **echo, retry_after=busy.retry_after
                )
            return
        if reply is not None:
            await self._send(conn, {**reply, **echo})

    async def _on_subscribe(self, conn: _Connection, command: dict[str, Any]) -> None:
        topic = command.get("topic")
        last_id = command.get("last_id")
        if not isinstance(topic, str) or not TOPIC_PATTERN.match(topic):
            await self._error(conn, "bad-request", "A topic looks like 'kind:id'.", topic=topic)
            return
        if last_id is not None and (not isinstance(last_id, int) or isinstance(last_id, bool) or last_id < 0):
            await self._error(conn, "bad-request", "last_id must be a non-negative integer.", topic=topic)
            return
        if len(conn.last) >= MAX_TOPICS_PER_SOCKET and topic not in conn.last:
            await self._error(conn, "too-many-topics", "Too many topics on one connection.", topic=topic)
            return
        if topic != conn.subscriber.private_topic and not await self.authorize(conn.subscriber, topic):
            await self._error(conn, "forbidden", "You may not follow this topic.", topic=topic)
            return
        await self._subscribe(conn, topic, last_id, announce=True)

    async def _subscribe(self, conn: _Connection, topic: str, last_id: int | None, *, announce: bool) -> None:
        async with conn.send_lock:
            head = await self.broker.head(topic)
            conn.last[topic] = head if last_id is None else last_id
            self._by_topic[topic].add(conn)
            if announce:
                await conn.websocket.send_json({"type": "subscribed", "topic": topic, "last_id": head})
        if last_id is not None:
            await self._catch_up(conn, topic)

    async def _pump(self, conn: _Connection) -> None:
        """Delivers live items to one socket in order, catching up over any gap."""
        try:
            await self._pump_items(conn)
        except GONE:  # the client went away while an item was on its way: nothing to do
            conn.closed = True

    async def _pump_items(self, conn: _Connection) -> None:
        while True:
            item = await conn.inbox.get()
            if item is None or conn.closed:
                return
            last = conn.last.get(item.topic)
            if last is None or item.seq <= last:
                continue
            if item.seq == last + 1:
                await self._deliver(conn, item)
            else:
                await self._catch_up(conn, item.topic)

    async def _catch_up(self, conn: _Connection, topic: str) -> None:
        async with conn.send_lock:
            last = conn.last.get(topic)
            if last is None:
                return
            items = await self.broker.read_after(topic, last)
            if items is None:
                head = await self.broker.head(topic)
                conn.last[topic] = head
                await conn.websocket.send_json({"type": "reload", "topic": topic, "last_id": head})
                return
            for item in items:
                await self._deliver_locked(conn, item)

    async def _deliver(self, conn: _Connection, item: FeedItem) -> None:
        async with conn.send_lock:
            await self._deliver_locked(conn, item)

    async def _deliver_locked(self, conn: _Connection, item: FeedItem) -> None:
        last = conn.last.get(item.topic)
        if last is None or item.seq <= last:
            return
        conn.last[item.topic] = item.seq
        revoked = item.topic == conn.subscriber.private_topic and item.message.startswith(REVOKED_PREFIX)
        if revoked and not await conn.subscriber.still_valid():
            conn.closed = True
            await conn.websocket.close(code=CLOSE_UNAUTHENTICATED)
            return
        if conn.websocket.application_state != WebSocketState.CONNECTED:
            return
        await conn.websocket.send_text(item.frame)

    async def _send(self, conn: _Connection, message: dict[str, Any]) -> None:
        async with conn.send_lock:
            await conn.websocket.send_json(message)

    async def _error(self, conn: _Connection, code: str, detail: str, **extra: Any) -> None:
        await self._send(conn, {"type": "error", "code": code, "detail": detail, **extra})


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin; a page on another site must not ride on our cookies."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: such clients authenticate with a token, not a cookie
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()
