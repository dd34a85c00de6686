"""Fallback load generator of bench/api_throughput.py when ``wrk`` is not installed.

Closed loop: ``--connections`` asyncio workers, one keep-alive connection each, send GET
requests back to back for ``--duration`` seconds (uvloop when installed). Prints the same
``BENCH_JSON {…}`` line as bench/wrk_report.lua. The default client writes HTTP/1.1 on asyncio
streams itself, because httpx (``--client httpx``) tops out at a few hundred requests/s on a
busy 2-core machine, far below the baseline server. Even the raw client is slower than wrk, so
on the fastest endpoints the figure may be the load generator's limit rather than the
server's: prefer wrk (``apt-get install wrk``).

    .venv/bin/python bench/loadgen.py --url http://127.0.0.1:8000/api/v1/me --duration 10 \
        --connections 16 --header "Authorization: Bearer kefu_…"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx


async def _raw_worker(url: str, headers: dict[str, str], deadline: float, stats: dict[str, Any]) -> None:
    """One keep-alive connection speaking just enough HTTP/1.1 (Content-Length answers)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    latencies: list[float] = stats["latencies"]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
            if length is None:
                raise RuntimeError(f"answer without Content-Length: {head[:300]!r}")
            body = await reader.readexactly(int(length.group(1)))
            latencies.append(time.perf_counter() - started)
            stats["bytes"] += len(head) + len(body)
            if status >= 400:
                stats["status_errors"] += 1
    finally:
        writer.close()


async def _httpx_worker(client: httpx.AsyncClient, url: str, deadline: float, stats: dict[str, Any]) -> None:
    latencies: list[float] = stats["latencies"]
    while True:
        started = time.perf_counter()
        if started >= deadline:
            return
        try:
            response = await client.get(url)
            body = await response.aread()
        except httpx.TimeoutException:
            stats["timeouts"] += 1
            continue
        except httpx.HTTPError:
            stats["read_errors"] += 1
            continue
        latencies.append(time.perf_counter() - started)
        stats["bytes"] += len(body)
        if response.status_code >= 400:
            stats["status_errors"] += 1


async def generate(
    url: str, headers: dict[str, str], duration: float, connections: int, client: str = "raw"
) -> dict[str, Any]:
    stats: dict[str, Any] = {"latencies": [], "bytes": 0, "status_errors": 0, "read_errors": 0, "timeouts": 0}
    started = time.perf_counter()
    deadline = started + duration
    if client == "raw":
        await asyncio.gather(*(_raw_worker(url, headers, deadline, stats) for _ in range(connections)))
    else:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as http:
            workers = (_httpx_worker(http, url, deadline, stats) for _ in range(connections))
            await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    latencies: list[float] = sorted(stats.pop("latencies"))

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        value: float = latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]
        return value * 1000

    return {
        "requests": len(latencies),
        "duration_s": elapsed,
        "connect_errors": 0,
        "write_errors": 0,
        **stats,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else float("nan"),
    }


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: asyncio streams and a minimal HTTP/1.1 client (default); httpx: about 10x slower",
    )
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(generate(args.url, headers, args.duration, args.connections, args.client))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
