"""Shared pieces of the benchmarks: child servers, readiness, RSS, provisioning, statistics.

Every server a benchmark starts is a ``Server``: started with ``Popen``, stopped in a
``finally`` (or by the context manager), and also killed at interpreter exit and, on Linux,
by the kernel when this process dies (``PR_SET_PDEATHSIG``), so no benchmark leaves a
uvicorn behind even when it fails half-way.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PYTHON = sys.executable

ADMIN_EMAIL = "admin@bench.example"
ADMIN_PASSWORD = "bench-admin-password-1"  # noqa: S105  # a throw-away account in a temp dir

_live: set[Server] = set()


# -- small helpers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=f"kefu-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def fmt_mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)).rstrip())


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_head() -> str:
    # Read-only: rev-parse changes nothing in the repository.
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def machine_facts() -> dict[str, str]:
    """What a reader needs to compare two runs: the machine, the interpreter, the versions."""
    cpus = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{usable} usable of {cpus} ({_cpu_model()})",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "load avg": " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min, at the start)",
        "kefu": f"{_version('kefu')} (git {_git_head()})",
        "versions": ", ".join(
            f"{name} {_version(name)}"
            for name in ("uvicorn", "uvloop", "httptools", "starlette", "fastapi", "sqlalchemy", "pydantic")
        ),
    }


def print_facts(facts: Mapping[str, str]) -> None:
    for key, value in facts.items():
        print(f"  {key:<9} {value}")


# -- child servers ---------------------------------------------------------------------------------
def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass(eq=False)
class Server:
    """One server process: started, polled until ready, measured, stopped."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        preexec = _die_with_parent if sys.platform == "linux" else None
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,  # the benchmarks are single-threaded, so preexec_fn is safe
        )
        _live.add(self)

    def wait_ready(self, path: str = "/readyz", timeout: float = 90.0, interval: float = 0.01) -> float:
        """Poll ``path`` until it answers 200; the seconds from ``start()`` until then."""
        assert self.proc is not None
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    return time.perf_counter() - self.started_at
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(interval)
        raise RuntimeError(f"{self.name} was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def status_kib(self, key: str) -> int:
        """A ``VmRSS``/``VmHWM``… line of /proc/<pid>/status, in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise RuntimeError(f"no {key} in /proc/{self.pid}/status")

    def settled_rss_kib(self, *, step: float = 0.25, stable_for: float = 1.0, limit: float = 8.0) -> int:
        """VmRSS once it has not moved by more than 1% for ``stable_for`` seconds."""
        end = time.monotonic() + limit
        last = self.status_kib("VmRSS")
        stable_since = time.monotonic()
        while time.monotonic() < end:
            time.sleep(step)
            now = self.status_kib("VmRSS")
            if abs(now - last) > max(last // 100, 64):
                stable_since = time.monotonic()
            last = now
            if time.monotonic() - stable_since >= stable_for:
                break
        return last

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)  # what Ctrl+C does: uvicorn's graceful shutdown
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            _live.discard(self)
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> Server:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally, which stops the servers


signal.signal(signal.SIGTERM, _on_sigterm)


def kefu_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a kefu process: SQLite in ``data_dir``, everything else default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        KEFU_DATA_DIR=str(data_dir),
        KEFU_HOST="127.0.0.1",
        KEFU_PORT=str(port),
        KEFU_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def kefu_server(data_dir: Path, log_dir: Path, *, demo: bool = True) -> Server:
    """``kefu serve`` exactly as a user starts it (``python -m kefu serve``)."""
    port = free_port()
    argv = [PYTHON, "-m", "kefu", "serve"] + ([] if demo else ["--no-demo"])
    return Server("kefu", argv, kefu_env(data_dir, port), port, log_dir / "kefu.log")


def baseline_server(log_dir: Path, payloads: Path | None = None) -> Server:
    """bench/baseline_app.py under the uvicorn command line, same loop and HTTP parser as kefu."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "BENCH_"))}
    if payloads is not None:
        env["BENCH_PAYLOADS"] = str(payloads)
    argv = [
        PYTHON,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "baseline_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--ws",
        "websockets-sansio",
    ]
    return Server("baseline", argv, env, port, log_dir / "baseline.log")


# -- a kefu data dir with an admin, an API token, users and teams ----------------------------------
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Provisioned:
    token: str
    users: int
    teams: int


def _check(response: httpx.Response, expected: int) -> httpx.Response:
    if response.status_code != expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} "
            f"(expected {expected}): {response.text[:500]}"
        )
    return response


def provision(data_dir: Path, log_dir: Path, *, users: int = 60, teams: int = 3) -> Provisioned:
    """Set up ``data_dir`` the way an operator would, through kefu's real CLI and HTTP API.

    ``kefu createuser`` (migrates and creates the admin), then ``kefu serve --no-demo``: log in
    through the form, create an API token with the CSRF token of the account page, and create
    agents and teams with that token. The server is stopped before returning, so the process
    that is measured later has served no login (argon2 hashing) and starts warm.
    """
    env = kefu_env(data_dir, free_port(), KEFU_NEW_PASSWORD=ADMIN_PASSWORD)
    subprocess.run(
        [
            PYTHON,
            "-m",
            "kefu",
            "createuser",
            "--email",
            ADMIN_EMAIL,
            "--name",
            "Bench Admin",
            "--role",
            "admin",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = kefu_server(data_dir, log_dir, demo=False)
    try:
        server.start()
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            page = _check(client.get("/login"), 200).text
            csrf = _CSRF_FIELD.search(page)
            if csrf is None:
                raise RuntimeError("no csrf_token field on /login")
            form = {
                "email": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD,
                "csrf_token": csrf.group(1),
                "next": "/",
            }
            _check(client.post("/login", data=form), 303)
            meta = _CSRF_META.search(_check(client.get("/account"), 200).text)
            if meta is None:
                raise RuntimeError("no csrf-token meta on /account")
            created = _check(
                client.post(
                    "/api/v1/tokens",
                    json={"name": "bench", "scopes": ["read", "write", "admin"]},
                    headers={"X-CSRF-Token": meta.group(1)},
                ),
                201,
            ).json()
            token = str(created["token"])
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            ids: list[int] = []
            for i in range(users):
                body = {"email": f"agent{i:03d}@bench.example", "name": f"坐席 {i:03d}", "role": "agent"}
                ids.append(int(_check(api.post("/api/v1/users", json=body), 201).json()["id"]))
            for t in range(teams):
                members = ids[t::teams]
                team = {"name": f"技能组 {t + 1}", "description": "bench", "member_ids": members}
                _check(api.post("/api/v1/teams", json=team), 201)
    finally:
        server.stop()
    return Provisioned(token=token, users=users + 1, teams=teams)


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code}: {response.text[:300]}")
    return response.json()


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


# -- summaries -------------------------------------------------------------------------------------


def data_dir_and_token(work_dir: Path, provisioned: tuple[Path, str] | None) -> tuple[Path, str]:
    """The data dir and token a benchmark measures: the one given, or a fresh one in work_dir."""
    if provisioned is not None:
        return provisioned
    data_dir = work_dir / "data"
    return data_dir, provision(data_dir, work_dir).token


@dataclass(frozen=True)
class Line:
    """One row of a summary: a metric for kefu, for the baseline, and their ratio."""

    metric: str
    kefu: str
    baseline: str
    ratio: str


def print_lines(lines: Sequence[Line]) -> None:
    print_table(
        ["metric", "kefu", "baseline", "ratio"],
        [[line.metric, line.kefu, line.baseline, line.ratio] for line in lines],
    )
