"""Idle memory of ``kefu serve`` against the bare Starlette baseline.

RSS (``VmRSS`` of /proc/<pid>/status) of each server process: right after /readyz first
answers, then after a few requests and once it has settled (no move above 1% for a second).
``VmHWM`` is the peak RSS of the process. kefu runs on a data dir provisioned like
bench/api_throughput.py does (admin, API token, 60 agents in 3 teams), restarted before the
measurement so that the set-up's logins (argon2 hashing) are not in the figure.

Requests, ``REQUESTS`` times each, /api/ ones with the API token:
kefu: /readyz, /api/v1/me, /api/v1/users?limit=50 and the /login page (a Jinja template);
baseline: /readyz, /api/v1/me, /api/v1/users (what it has).

    .venv/bin/python bench/memory.py [--quick] [--reps N]
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import (
    Line,
    Server,
    baseline_server,
    data_dir_and_token,
    fmt_mib,
    kefu_server,
    machine_facts,
    median,
    print_facts,
    print_lines,
    print_table,
    ratio,
    temp_dir,
)

REQUESTS = 20
API_PATHS = ["/readyz", "/api/v1/me", "/api/v1/users?limit=50"]


@dataclass
class MemoryResult:
    reps: int
    # name -> one figure (KiB) per repetition
    ready_kib: dict[str, list[int]] = field(default_factory=lambda: {"kefu": [], "baseline": []})
    settled_kib: dict[str, list[int]] = field(default_factory=lambda: {"kefu": [], "baseline": []})
    peak_kib: dict[str, list[int]] = field(default_factory=lambda: {"kefu": [], "baseline": []})

    def lines(self) -> list[Line]:
        lines = []
        for label, figures in (
            ("RSS idle after requests", self.settled_kib),
            ("RSS peak (VmHWM)", self.peak_kib),
        ):
            kefu, base = median(figures["kefu"]), median(figures["baseline"])
            lines.append(Line(label, fmt_mib(kefu), fmt_mib(base), f"{ratio(kefu, base):.1f}x"))
        return lines

    def raw(self) -> dict[str, Any]:
        return asdict(self)


def _exercise(server: Server, paths: list[str], token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(REQUESTS):
            for path in paths:
                response = client.get(path, headers=auth if path.startswith("/api/") else None)
                if response.status_code != 200:
                    raise RuntimeError(f"{server.name} GET {path}: {response.status_code}")


def _measure(server: Server, paths: list[str], token: str, result: MemoryResult) -> None:
    with server:
        server.wait_ready()
        result.ready_kib[server.name].append(server.status_kib("VmRSS"))
        _exercise(server, paths, token)
        result.settled_kib[server.name].append(server.settled_rss_kib())
        result.peak_kib[server.name].append(server.status_kib("VmHWM"))


def measure(data_dir: Path, token: str, work_dir: Path, reps: int) -> MemoryResult:
    result = MemoryResult(reps=reps)
    for _ in range(reps):
        _measure(baseline_server(work_dir), API_PATHS, token, result)
        _measure(kefu_server(data_dir, work_dir, demo=False), [*API_PATHS, "/login"], token, result)
    return result


def run(reps: int, provisioned: tuple[Path, str] | None = None) -> MemoryResult:
    with temp_dir("memory") as work_dir:
        data_dir, token = data_dir_and_token(work_dir, provisioned)
        return measure(data_dir, token, work_dir, reps)


def report(result: MemoryResult) -> None:
    print(f"\nRSS of the server process, {result.reps} repetitions (median):")
    rows = []
    for name in ("kefu", "baseline"):
        rows.append(
            [
                name,
                fmt_mib(median(result.ready_kib[name])),
                fmt_mib(median(result.settled_kib[name])),
                fmt_mib(median(result.peak_kib[name])),
            ]
        )
    print_table(["server", "at ready", f"after {REQUESTS}x requests, settled", "peak (VmHWM)"], rows)
    print()
    print_lines(result.lines())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 repetition instead of 3")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3, --quick 1)")
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    print("kefu memory benchmark")
    print_facts(machine_facts())
    report(run(reps))


if __name__ == "__main__":
    main()
