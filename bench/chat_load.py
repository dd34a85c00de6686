"""Live chat under load: N widget visitors and M agents on one kefu process, against a bare relay.

Set-up, through kefu's real CLI and HTTP API: a fresh SQLite data dir with an admin and an API
token (``harness.provision``), one chat widget (created with kefu's own service function before
the server starts: widgets have no JSON API), then ``python -m kefu serve --no-demo``. Each
visitor opens a session (``POST /api/v1/widget/{key}/session``) and a conversation
(``POST /api/v1/widget/conversations``) over HTTP, then its WebSocket
(``/api/v1/realtime?visitor_token=…``, with the page's ``Origin``), as the widget frame does.
Each agent opens a WebSocket with the API token and subscribes to ``inbox``, as the agent
workspace does (all agents use the admin's token: the socket fan-out is what is measured).

The load is open-loop and paced: ``--rate`` chat messages per second in all, a share
(``--agent-share``, default one half) written by agents and the rest by visitors. Visitors send
``chat.send`` over their socket in turn, so each visitor sends every N / visitor-rate seconds
(kefu allows 10 messages per 10 s per visitor); agents reply to the conversations in turn with
``POST /api/v1/conversations/{id}/messages`` over keep-alive HTTP connections. Measured:

* visitor→agent: ``chat.send`` written → ``message.posted`` read on an agent's socket, for
  every agent (each agent's inbox gets every message); also send → ``chat.ack``;
* agent→visitor: POST written → ``message.posted`` read on the visitor's socket;
* loss: every acknowledged visitor message must reach every agent, every agent reply that got
  its 201 must reach its visitor (counted after a drain of up to 10 s);
* messages/s achieved (acknowledged, sent in the measured window) against offered;
* server RSS settled before the sockets, with them open, and after the load → KiB per
  connection; the server's CPU time per message in the measured window.

The same client code then drives bench/chat_relay_app.py (a bare Starlette relay with the same
routes, bodies and frames, nothing stored) under the same uvicorn options as kefu. The load
generator is this one asyncio process (uvloop), sharing the machine's cores with the server.

    .venv/bin/python bench/chat_load.py [--quick] [--visitors N] [--agents M] [--rate R]
        [--duration S] [--agent-share F] [--servers kefu,relay] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from harness import (
    BENCH_DIR,
    PYTHON,
    Line,
    Server,
    free_port,
    kefu_env,
    kefu_server,
    machine_facts,
    print_facts,
    print_lines,
    print_table,
    provision,
    ratio,
    temp_dir,
)

DRAIN_SECONDS = 10.0
BODY = "你好，我想查询一下订单的发货状态，订单号是 "
VISITOR_SEND_LIMIT = 1.0  # msg/s one visitor may sustain (kefu: 10 per 10 s, refilled evenly)
CLK_TCK = os.sysconf("SC_CLK_TCK")

WIDGET_SNIPPET = """
import asyncio

import kefu.app  # noqa: F401  (maps every model)
from kefu.channels.web_chat import service
from kefu.platform.audit import Actor
from kefu.platform.db import Database
from kefu.settings import load_settings


async def main() -> None:
    db = Database(load_settings().db_url)
    try:
        async with db.transaction() as session:
            values = service.WidgetValues(name="Bench shop", title="Chat with us")
            widget = await service.create_widget(session, Actor.system("bench"), values)
            key = widget.key
    finally:
        await db.dispose()
    print(key)


asyncio.run(main())
"""


@dataclass(frozen=True)
class Settings:
    visitors: int = 2000
    agents: int = 20
    rate: float = 500.0
    duration: float = 30.0
    warmup: float = 5.0
    agent_share: float = 0.5
    connect_concurrency: int = 50
    servers: tuple[str, ...] = ("kefu", "relay")

    @property
    def visitor_rate(self) -> float:
        return self.rate * (1 - self.agent_share)

    @property
    def agent_rate(self) -> float:
        return self.rate * self.agent_share


# -- a minimal keep-alive HTTP/1.1 client (httpx costs too much CPU at hundreds of requests/s) ----
class HttpConn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        length = 0
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise RuntimeError("chunked answers are not supported by this client")
        return status, await self.reader.readexactly(length)


class HttpPool:
    """Keep-alive connections to one server: a request takes an idle one or opens another."""

    def __init__(self, port: int, headers: dict[str, str], limit: int = 6) -> None:
        self.port = port
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.idle: list[HttpConn] = []
        self.opened = 0
        self.slots = asyncio.Semaphore(limit)  # a browser opens at most 6 connections per host

    async def post(self, path: str, data: Any, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        body = json.dumps(data, ensure_ascii=False).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{self.headers}{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        async with self.slots:
            reused = bool(self.idle)
            conn = self.idle.pop() if reused else await self._open()
            try:
                answer = await conn.request(head, body)
            except (OSError, asyncio.IncompleteReadError):
                conn.writer.close()
                if not reused:
                    raise
                # uvicorn closes keep-alive connections idle for 5 s. The POSTs carry a client_id,
                # so sending one again on a fresh connection never doubles a message.
                conn = await self._open()
                answer = await conn.request(head, body)
            except BaseException:
                conn.writer.close()
                raise
            self.idle.append(conn)
            return answer

    async def _open(self) -> HttpConn:
        self.opened += 1
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return HttpConn(reader, writer)

    def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()
        self.idle.clear()


# -- bookkeeping ------------------------------------------------------------------------------------
@dataclass
class Sent:
    at: float
    measured: bool
    answered: float | None = None  # chat.ack or HTTP 201 (perf_counter)
    delivered: int = 0  # sockets that received it


@dataclass
class Tally:
    agents: int
    window: tuple[float, float] = (0.0, 0.0)  # the measured window (perf_counter)
    visitor_msgs: dict[str, Sent] = field(default_factory=dict)
    agent_msgs: dict[str, Sent] = field(default_factory=dict)
    ack_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    to_agent_ms: list[float] = field(default_factory=list)
    to_visitor_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    frames: int = 0

    def on_visitor_frame(self, raw: str | bytes, now: float) -> None:
        self.frames += 1
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "chat.ack":
            sent = self.visitor_msgs.get(str(frame.get("client_id")))
            if sent is not None and sent.answered is None:
                sent.answered = now
                if sent.measured:
                    self.ack_ms.append((now - sent.at) * 1000)
        elif kind == "event" and frame.get("event") == "message.posted":
            data = frame.get("data") or {}
            if data.get("author_kind") == "agent":
                sent = self.agent_msgs.get(str(data.get("client_id")))
                if sent is None:
                    self.errors["visitor got an unknown agent message"] += 1
                else:
                    sent.delivered += 1
                    if sent.measured and sent.delivered == 1:
                        self.to_visitor_ms.append((now - sent.at) * 1000)
        elif kind == "error":
            self.errors[f"visitor socket error frame: {frame.get('code')}"] += 1

    def on_agent_frame(self, raw: str | bytes, now: float) -> None:
        self.frames += 1
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "event" and frame.get("event") == "message.posted":
            data = frame.get("data") or {}
            if data.get("author_kind") == "customer":
                sent = self.visitor_msgs.get(str(data.get("client_id")))
                if sent is not None:
                    sent.delivered += 1
                    if sent.measured:
                        self.to_agent_ms.append((now - sent.at) * 1000)
        elif kind == "error":
            self.errors[f"agent socket error frame: {frame.get('code')}"] += 1
        elif kind == "reload":
            self.errors["agent socket reload frame (missed events)"] += 1

    def answered_in_window(self, sent: Iterable[Sent]) -> int:
        start, end = self.window
        return sum(1 for s in sent if s.answered is not None and start <= s.answered < end)

    def outstanding(self) -> int:
        """Deliveries still expected: acked visitor messages × agents, answered agent replies."""
        to_agents = sum(self.agents - s.delivered for s in self.visitor_msgs.values() if s.answered)
        to_visitors = sum(1 - s.delivered for s in self.agent_msgs.values() if s.answered)
        return to_agents + to_visitors


@dataclass(frozen=True)
class Figures:
    p50: float
    p99: float
    max: float
    n: int

    @classmethod
    def of(cls, samples_ms: list[float]) -> Figures:
        if not samples_ms:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        ordered = sorted(samples_ms)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        return cls(pick(0.50), pick(0.99), ordered[-1], len(ordered))

    def text(self) -> str:
        return f"{self.p50:.1f} / {self.p99:.1f} ms" if self.n else "-"


@dataclass
class RunResult:
    server: str
    visitors_connected: int = 0
    agents_connected: int = 0
    setup_s: float = 0.0
    connect_s: float = 0.0
    offered_per_s: float = 0.0
    window_s: float = 0.0
    visitor_sent: int = 0
    visitor_acked: int = 0
    agent_posted: int = 0
    agent_created: int = 0
    achieved_per_s: float = 0.0
    visitor_per_s: float = 0.0
    agent_per_s: float = 0.0
    schedule_lag_ms: float = 0.0
    unanswered_visitor: int = 0
    failed_agent_posts: int = 0
    lost_to_agents: int = 0  # (message, agent) deliveries missing, acked messages only
    messages_missing_at_an_agent: int = 0
    lost_to_visitors: int = 0
    ack: Figures | None = None
    post: Figures | None = None
    to_agent: Figures | None = None
    to_visitor: Figures | None = None
    errors: dict[str, int] = field(default_factory=dict)
    rss_before_kib: int = 0
    rss_connected_kib: int = 0
    rss_after_kib: int = 0
    kib_per_connection: float = 0.0
    server_cpu_s: float = 0.0
    server_cpu_ms_per_msg: float = 0.0
    client_cpu_s: float = 0.0
    frames_received: int = 0


# -- the server side: RSS and CPU from /proc ------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


async def settled_rss(
    server: Server, *, step: float = 0.25, stable_for: float = 1.5, limit: float = 10.0
) -> int:
    """VmRSS once it has not moved by more than 1% for ``stable_for`` s (the loop keeps running)."""
    end = time.monotonic() + limit
    last = server.status_kib("VmRSS")
    stable_since = time.monotonic()
    while time.monotonic() < end:
        await asyncio.sleep(step)
        now = server.status_kib("VmRSS")
        if abs(now - last) > max(last // 100, 64):
            stable_since = time.monotonic()
        last = now
        if time.monotonic() - stable_since >= stable_for:
            break
    return last


# -- the load -----------------------------------------------------------------------------------
@dataclass
class Visitor:
    token: str
    contact_id: int
    conversation_id: int
    ws: ClientConnection | None = None


async def bounded(items: Iterable[Awaitable[Any]], limit: int) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(item: Awaitable[Any]) -> Any:
        async with semaphore:
            return await item

    return await asyncio.gather(*(one(i) for i in items))


async def open_visitor(pool: HttpPool, key: str) -> Visitor:
    status, body = await pool.post(f"/api/v1/widget/{key}/session", {})
    if status != 200:
        raise RuntimeError(f"visitor session: {status} {body[:300]!r}")
    session = json.loads(body)
    auth = {"Authorization": f"Visitor {session['token']}"}
    status, body = await pool.post("/api/v1/widget/conversations", {"prechat": {}}, auth)
    if status != 201:
        raise RuntimeError(f"start conversation: {status} {body[:300]!r}")
    conversation = json.loads(body)["conversation"]
    return Visitor(session["token"], int(session["contact_id"]), int(conversation["id"]))


async def read_frames(ws: ClientConnection, handle: Callable[[str | bytes, float], None]) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            handle(raw, time.perf_counter())


async def connect_socket(url: str, **options: Any) -> ClientConnection:
    ws = await connect(
        url,
        proxy=None,
        open_timeout=60,
        close_timeout=2,
        ping_interval=None,
        max_queue=None,
        user_agent_header=None,
        **options,
    )
    hello = json.loads(await ws.recv())
    if hello.get("type") != "hello":
        raise RuntimeError(f"expected hello, got {hello}")
    return ws


async def drive(server: Server, token: str, key: str, settings: Settings) -> RunResult:
    result = RunResult(server.name)
    tally = Tally(settings.agents)
    ws_url = f"ws://127.0.0.1:{server.port}/api/v1/realtime"
    readers: list[asyncio.Task[None]] = []
    sockets: list[ClientConnection] = []
    setup_pool = HttpPool(server.port, {})
    agent_pools = [
        HttpPool(server.port, {"Authorization": f"Bearer {token}"}) for _ in range(settings.agents)
    ]
    try:
        started = time.perf_counter()
        visitors: list[Visitor] = await bounded(
            (open_visitor(setup_pool, key) for _ in range(settings.visitors)), 8
        )
        result.setup_s = time.perf_counter() - started
        setup_pool.close()
        print(
            f"  {server.name}: {len(visitors)} visitor sessions and conversations in {result.setup_s:.1f} s",
            flush=True,
        )
        result.rss_before_kib = await settled_rss(server)

        started = time.perf_counter()
        for _ in range(settings.agents):
            ws = await connect_socket(ws_url, additional_headers={"Authorization": f"Bearer {token}"})
            await ws.send(json.dumps({"type": "subscribe", "topic": "inbox"}))
            while json.loads(await ws.recv()).get("type") != "subscribed":
                pass
            sockets.append(ws)
            readers.append(asyncio.create_task(read_frames(ws, tally.on_agent_frame)))
        result.agents_connected = len(sockets)

        async def attach(visitor: Visitor) -> None:
            visitor.ws = await connect_socket(
                f"{ws_url}?visitor_token={visitor.token}", origin=Origin(server.url)
            )
            sockets.append(visitor.ws)
            readers.append(asyncio.create_task(read_frames(visitor.ws, tally.on_visitor_frame)))

        await bounded((attach(v) for v in visitors), settings.connect_concurrency)
        result.connect_s = time.perf_counter() - started
        result.visitors_connected = len(sockets) - result.agents_connected
        print(
            f"  {server.name}: {result.visitors_connected} visitor + {result.agents_connected} agent sockets "
            f"in {result.connect_s:.1f} s",
            flush=True,
        )
        result.rss_connected_kib = await settled_rss(server)
        connections = result.visitors_connected + result.agents_connected
        result.kib_per_connection = (result.rss_connected_kib - result.rss_before_kib) / max(1, connections)

        await paced_load(server, visitors, agent_pools, tally, settings, result)
        for _ in range(int(DRAIN_SECONDS * 10)):  # polled: deliveries have no single completion
            if not tally.outstanding():
                break
            await asyncio.sleep(0.1)
        result.rss_after_kib = await settled_rss(server)
        summarise(tally, result)
    finally:
        for pool in agent_pools:
            pool.close()
        await bounded((ws.close() for ws in sockets), 200)
        for task in readers:
            task.cancel()
    return result


async def paced_load(
    server: Server,
    visitors: list[Visitor],
    agent_pools: list[HttpPool],
    tally: Tally,
    settings: Settings,
    result: RunResult,
) -> None:
    """Open loop: sends go out on schedule whether or not earlier ones were answered."""
    pending: set[asyncio.Task[None]] = set()
    visitor_order = itertools.cycle(range(len(visitors)))
    # Agents reply in another order than visitors write, so one conversation does not get both at once.
    agent_order = itertools.cycle(range(len(visitors) - 1, -1, -1))
    counts = {"v": 0, "a": 0}
    lag: list[float] = []

    async def visitor_send(visitor: Visitor, client_id: str, text: str) -> None:
        assert visitor.ws is not None
        with contextlib.suppress(ConnectionClosed):
            await visitor.ws.send(text)

    async def agent_post(pool: HttpPool, visitor: Visitor, client_id: str, sent: Sent) -> None:
        path = f"/api/v1/conversations/{visitor.conversation_id}/messages"
        try:
            status, body = await pool.post(path, {"body": BODY + client_id, "client_id": client_id})
        except (OSError, asyncio.IncompleteReadError) as exc:
            tally.errors[f"agent POST failed: {type(exc).__name__}"] += 1
            return
        now = time.perf_counter()
        if status == 201:
            sent.answered = now
            if sent.measured:
                tally.post_ms.append((now - sent.at) * 1000)
        else:
            tally.errors[f"agent POST answered {status}: {body[:120]!r}"] += 1

    def spawn(coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    def send_visitor(measured: bool) -> None:
        counts["v"] += 1
        visitor = visitors[next(visitor_order)]
        client_id = f"v{counts['v']}"
        text = json.dumps(
            {
                "type": "chat.send",
                "conversation_id": visitor.conversation_id,
                "client_id": client_id,
                "body": BODY + client_id,
            },
            ensure_ascii=False,
        )
        tally.visitor_msgs[client_id] = Sent(time.perf_counter(), measured)
        spawn(visitor_send(visitor, client_id, text))

    def send_agent(measured: bool) -> None:
        counts["a"] += 1
        index = next(agent_order)
        client_id = f"a{counts['a']}"
        sent = Sent(time.perf_counter(), measured)
        tally.agent_msgs[client_id] = sent
        spawn(agent_post(agent_pools[index % len(agent_pools)], visitors[index], client_id, sent))

    cpu_start = cpu_start_client = 0.0
    started = time.perf_counter()
    window_start = started + settings.warmup
    end = window_start + settings.duration
    tally.window = (window_start, end)
    measured_v = measured_a = 0
    in_window = False
    v_due = a_due = 0.0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if not in_window and now >= window_start:
            in_window = True
            cpu_start = cpu_seconds(server.pid)
            cpu_start_client = sum(os.times()[:2])
        elapsed = now - started
        v_target = elapsed * settings.visitor_rate
        a_target = elapsed * settings.agent_rate
        behind = max(v_target - v_due, a_target - a_due) / max(settings.rate, 1)
        if behind > 0.02:
            lag.append(behind * 1000)
        while v_due + 1 <= v_target:
            v_due += 1
            send_visitor(in_window)
            measured_v += in_window
        while a_due + 1 <= a_target:
            a_due += 1
            send_agent(in_window)
            measured_a += in_window
        await asyncio.sleep(0.005)
    result.server_cpu_s = cpu_seconds(server.pid) - cpu_start
    result.client_cpu_s = sum(os.times()[:2]) - cpu_start_client
    result.window_s = settings.duration
    result.offered_per_s = settings.rate
    result.schedule_lag_ms = max(lag, default=0.0)
    print(
        f"  {server.name}: sent {measured_v} visitor and {measured_a} agent messages in the window; draining",
        flush=True,
    )
    if pending:
        await asyncio.wait(pending, timeout=DRAIN_SECONDS)


def summarise(tally: Tally, result: RunResult) -> None:
    window = [s for s in tally.visitor_msgs.values() if s.measured]
    window_a = [s for s in tally.agent_msgs.values() if s.measured]
    result.visitor_sent = len(window)
    result.visitor_acked = sum(1 for s in window if s.answered)
    result.agent_posted = len(window_a)
    result.agent_created = sum(1 for s in window_a if s.answered)
    # Throughput by answer time: what the server got done inside the window, not what was offered.
    result.visitor_per_s = tally.answered_in_window(tally.visitor_msgs.values()) / result.window_s
    result.agent_per_s = tally.answered_in_window(tally.agent_msgs.values()) / result.window_s
    result.achieved_per_s = result.visitor_per_s + result.agent_per_s
    every_v = tally.visitor_msgs.values()
    result.unanswered_visitor = sum(1 for s in every_v if s.answered is None)
    result.failed_agent_posts = sum(1 for s in tally.agent_msgs.values() if s.answered is None)
    result.lost_to_agents = sum(
        tally.agents - s.delivered for s in every_v if s.answered and s.delivered < tally.agents
    )
    result.messages_missing_at_an_agent = sum(1 for s in every_v if s.answered and s.delivered < tally.agents)
    result.lost_to_visitors = sum(1 for s in tally.agent_msgs.values() if s.answered and not s.delivered)
    result.ack = Figures.of(tally.ack_ms)
    result.post = Figures.of(tally.post_ms)
    result.to_agent = Figures.of(tally.to_agent_ms)
    result.to_visitor = Figures.of(tally.to_visitor_ms)
    result.errors = dict(tally.errors)
    result.frames_received = tally.frames
    answered = result.achieved_per_s * result.window_s  # the CPU was measured over the same window
    result.server_cpu_ms_per_msg = result.server_cpu_s * 1000 / answered if answered else float("nan")


# -- servers ----------------------------------------------------------------------------------
def make_widget(data_dir: Path) -> str:
    out = subprocess.run(
        [PYTHON, "-c", WIDGET_SNIPPET],
        env=kefu_env(data_dir, free_port()),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1]


def relay_server(log_dir: Path) -> Server:
    """bench/chat_relay_app.py with the uvicorn options of ``kefu serve`` (bench/harness.py's way)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "BENCH_"))}
    argv = [
        PYTHON,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "chat_relay_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--ws",
        "websockets-sansio",
        "--ws-ping-interval",
        "20",
    ]
    return Server("relay", argv, env, port, log_dir / "relay.log")


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # the servers inherit it
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        print(f"WARNING: RLIMIT_NOFILE is below {needed}; connections may fail", flush=True)


def run_loop(coro: Coroutine[Any, Any, RunResult]) -> RunResult:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a kefu dependency
        return asyncio.run(coro)
    return uvloop.run(coro)


def run(settings: Settings) -> dict[str, RunResult]:
    raise_fd_limit(2 * (settings.visitors + settings.agents) + 1000)
    results: dict[str, RunResult] = {}
    with temp_dir("chat-load") as work_dir:
        data_dir = work_dir / "data"
        token = provision(data_dir, work_dir, users=0, teams=0).token
        key = make_widget(data_dir)
        for name in settings.servers:
            server = kefu_server(data_dir, work_dir, demo=False) if name == "kefu" else relay_server(work_dir)
            print(f"\n== {name} ==", flush=True)
            with server:
                server.wait_ready()
                results[name] = run_loop(drive(server, token, key, settings))
                if server.proc is not None and server.proc.poll() is not None:
                    raise RuntimeError(f"{name} died during the run:\n{server.log_tail()}")
                log = server.log_tail(2000)
            if "Traceback" in log or "ERROR" in log:
                print(f"  {name} logged errors (tail):\n{log}", flush=True)
    return results


# -- the report -------------------------------------------------------------------------------
def _cell(result: RunResult | None, value: Callable[[RunResult], str]) -> str:
    return value(result) if result is not None else "-"


def report(settings: Settings, results: dict[str, RunResult]) -> list[Line]:
    kefu, relay = results.get("kefu"), results.get("relay")
    rows = [
        ("visitor + agent sockets", lambda r: f"{r.visitors_connected} + {r.agents_connected}"),
        ("sessions + conversations set up (s)", lambda r: f"{r.setup_s:.1f}"),
        ("sockets opened (s)", lambda r: f"{r.connect_s:.1f}"),
        ("offered msg/s (visitor + agent)", lambda r: f"{r.offered_per_s:g}"),
        (
            "achieved msg/s (answered in window)",
            lambda r: f"{r.achieved_per_s:.0f} ({r.visitor_per_s:.0f} + {r.agent_per_s:.0f})",
        ),
        ("send → chat.ack p50 / p99", lambda r: _fig(r.ack)),
        ("visitor → agent p50 / p99", lambda r: _fig(r.to_agent)),
        ("agent POST → 201 p50 / p99", lambda r: _fig(r.post)),
        ("agent → visitor p50 / p99", lambda r: _fig(r.to_visitor)),
        ("max visitor → agent / agent → visitor", lambda r: f"{_max(r.to_agent)} / {_max(r.to_visitor)} ms"),
        ("sends never acked / posts never 201", lambda r: f"{r.unanswered_visitor} / {r.failed_agent_posts}"),
        ("undelivered → agents / → visitors", lambda r: f"{r.lost_to_agents} / {r.lost_to_visitors}"),
        ("RSS before / with sockets / after load", lambda r: _rss(r)),
        ("memory per connection", lambda r: f"{r.kib_per_connection:.1f} KiB"),
        (
            "server CPU in window (s, % of one core)",
            lambda r: f"{r.server_cpu_s:.1f} ({r.server_cpu_s / r.window_s:.0%})",
        ),
        ("server CPU per message", lambda r: f"{r.server_cpu_ms_per_msg:.2f} ms"),
        ("load generator CPU in window (s)", lambda r: f"{r.client_cpu_s:.1f}"),
        ("frames received by the clients", lambda r: f"{r.frames_received:,}"),
    ]
    print(
        f"\n{settings.visitors} visitors, {settings.agents} agents (each subscribed to inbox), "
        f"{settings.rate:g} msg/s offered "
        f"({settings.visitor_rate:g} visitor + {settings.agent_rate:g} agent), "
        f"{settings.warmup:g} s warm-up + {settings.duration:g} s measured"
    )
    print_table(["", *results], [[label, *(_cell(r, fn) for r in results.values())] for label, fn in rows])
    for name, r in results.items():
        for error, count in r.errors.items():
            print(f"  {name}: {count} x {error}")
    lines: list[Line] = []
    if kefu is not None and relay is not None:
        lines = [
            Line(
                "achieved msg/s",
                f"{kefu.achieved_per_s:.0f}",
                f"{relay.achieved_per_s:.0f}",
                f"{ratio(relay.achieved_per_s, kefu.achieved_per_s):.2f}x",
            ),
            Line(
                "visitor → agent p50 / p99",
                _fig(kefu.to_agent),
                _fig(relay.to_agent),
                _ratios(kefu.to_agent, relay.to_agent),
            ),
            Line(
                "agent → visitor p50 / p99",
                _fig(kefu.to_visitor),
                _fig(relay.to_visitor),
                _ratios(kefu.to_visitor, relay.to_visitor),
            ),
            Line(
                "memory per connection",
                f"{kefu.kib_per_connection:.1f} KiB",
                f"{relay.kib_per_connection:.1f} KiB",
                f"{ratio(kefu.kib_per_connection, relay.kib_per_connection):.1f}x",
            ),
            Line(
                "server CPU per message",
                f"{kefu.server_cpu_ms_per_msg:.2f} ms",
                f"{relay.server_cpu_ms_per_msg:.2f} ms",
                f"{ratio(kefu.server_cpu_ms_per_msg, relay.server_cpu_ms_per_msg):.1f}x",
            ),
            Line(
                "undelivered after the drain",
                f"{kefu.lost_to_agents + kefu.lost_to_visitors}",
                f"{relay.lost_to_agents + relay.lost_to_visitors}",
                "-",
            ),
        ]
        print("\nratio: kefu / relay (relay / kefu for msg/s)")
        print_lines(lines)
    if kefu is not None:
        print_goal(settings, kefu, relay)
    return lines


def _fig(figures: Figures | None) -> str:
    return figures.text() if figures is not None else "-"


def _max(figures: Figures | None) -> str:
    return f"{figures.max:.0f}" if figures is not None and figures.n else "-"


def _ratios(kefu: Figures | None, relay: Figures | None) -> str:
    if kefu is None or relay is None or not kefu.n or not relay.n:
        return "-"
    return f"{ratio(kefu.p50, relay.p50):.1f}x / {ratio(kefu.p99, relay.p99):.1f}x"


def print_goal(settings: Settings, kefu: RunResult, relay: RunResult | None) -> None:
    p99 = max(_p99(kefu.to_agent), _p99(kefu.to_visitor))
    checks = [
        ("2,000 concurrent visitor connections", kefu.visitors_connected >= 2000),
        ("500 msg/s sustained", kefu.achieved_per_s >= 0.98 * 500),
        ("p99 delivery under 100 ms (both directions)", p99 < 100),
        (
            "no loss",
            kefu.lost_to_agents + kefu.lost_to_visitors + kefu.unanswered_visitor + kefu.failed_agent_posts
            == 0,
        ),
    ]
    if relay is not None:
        relay_p99 = max(_p99(relay.to_agent), _p99(relay.to_visitor))
        checks.append(("p99 within 3x of the bare relay", p99 <= 3 * relay_p99))
    print("\ngoal (issue 3): " + ("" if settings.visitors >= 2000 else "(not a full-size run) "))
    for text, ok in checks:
        print(f"  [{'x' if ok else ' '}] {text}")


def _p99(figures: Figures | None) -> float:
    return figures.p99 if figures is not None and figures.n else float("inf")


def _rss(r: RunResult) -> str:
    return (
        " / ".join(f"{kib / 1024:.1f}" for kib in (r.rss_before_kib, r.rss_connected_kib, r.rss_after_kib))
        + " MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 visitors, 5 agents, 50 msg/s, 8 s")
    parser.add_argument("--visitors", type=int, help="widget visitor sockets (default 2000)")
    parser.add_argument("--agents", type=int, help="agent sockets subscribed to inbox (default 20)")
    parser.add_argument(
        "--rate", type=float, help="chat messages per second offered, both directions (default 500)"
    )
    parser.add_argument("--duration", type=float, help="measured seconds (default 30)")
    parser.add_argument("--warmup", type=float, help="seconds of load before the measured window (default 5)")
    parser.add_argument("--agent-share", type=float, help="share of --rate written by agents (default 0.5)")
    parser.add_argument("--servers", help="comma-separated, in order: kefu,relay (default both)")
    parser.add_argument("--json", type=Path, help="write the raw figures to this file")
    args = parser.parse_args()
    base = Settings(visitors=200, agents=5, rate=50.0, duration=8.0, warmup=2.0) if args.quick else Settings()
    overrides = {
        "visitors": args.visitors,
        "agents": args.agents,
        "rate": args.rate,
        "duration": args.duration,
        "warmup": args.warmup,
        "agent_share": args.agent_share,
        "servers": tuple(args.servers.split(",")) if args.servers else None,
    }
    settings = Settings(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None}})
    if set(settings.servers) - {"kefu", "relay"} or settings.visitors < 1 or settings.agents < 1:
        parser.error("--servers takes kefu and/or relay; at least one visitor and one agent")
    per_visitor = settings.visitor_rate / settings.visitors
    if per_visitor > VISITOR_SEND_LIMIT:
        print(
            f"WARNING: {per_visitor:.2f} msg/s per visitor exceeds kefu's limit of 1/s: "
            "expect rate-limited errors"
        )
    command = shlex.join([sys.executable, *sys.argv])
    print(f"kefu live chat load: {command}")
    facts = machine_facts()
    print_facts(facts)
    results = run(settings)
    lines = report(settings, results)
    if args.json is not None:
        raw = {
            "command": command,
            "facts": facts,
            "settings": asdict(settings),
            "results": {name: asdict(r) for name, r in results.items()},
            "summary": [asdict(line) for line in lines],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"\nraw figures written to {args.json}")


if __name__ == "__main__":
    main()
