"""A real HTTP server for tests that need one: in-process (same event loop), or a separate process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_in_loop(app: Any) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs (the `app` fixture) on a real socket."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  # uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def settings_env(settings: Any, **extra: str) -> dict[str, str]:
    """The KEFU_* environment that makes a child process use these test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_DATA_DIR=str(settings.data_dir),
        KEFU_DATABASE_URL=settings.db_url,
        KEFU_SECRET_KEY=settings.secret,
        KEFU_REDIS_PREFIX=settings.redis_prefix,
        KEFU_DEFAULT_LOCALE=settings.default_locale,
        KEFU_LOG_LEVEL="WARNING",
    )
    if settings.redis_url:
        env["KEFU_REDIS_URL"] = settings.redis_url
    env.update(extra)
    return env


class ServerProcess:
    """`kefu serve` in a child process, as a user runs it."""

    def __init__(self, env: Mapping[str, str], *, args: tuple[str, ...] = ("--no-demo",), log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "KEFU_PORT": str(self.port), "KEFU_HOST": "127.0.0.1"}
        self.args = args
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kefu", "serve", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kefu serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kefu serve did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-5000:]


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
