"""Throughput of authenticated API reads of ``kefu serve`` against a bare Starlette endpoint.

Set-up, through kefu's real CLI and HTTP API (see ``harness.provision``): a fresh SQLite data
dir, ``kefu createuser`` for an admin, a login, an API token created with the CSRF token, then
60 agents in 3 teams created with that token. Then, as separate processes on loopback:

* ``python -m kefu serve --no-demo`` (one uvicorn worker) on that data dir;
* ``python -m uvicorn baseline_app:app`` (bench/baseline_app.py) returning the very JSON
  documents kefu returned for the same paths, without auth, database, middleware or validation;
* the load generator: ``wrk`` (1 thread) when installed, else bench/loadgen.py (asyncio+httpx).

Endpoints, all sent ``Authorization: Bearer kefu_…``: GET /api/v1/me and
GET /api/v1/users?limit=50, plus GET /healthz, which needs neither token nor database and so
shows what kefu's middleware and routing cost by themselves. After a warm-up, each (server,
endpoint) pair is loaded for a fixed duration in several rounds, alternating kefu/baseline
(ABBA) so drift hits both. Reported: requests/s and latency p50/p99 (medians over the rounds),
and the overhead ratio baseline rps / kefu rps. A run fails if any response was not 2xx.

    .venv/bin/python bench/api_throughput.py [--quick] [--duration S] [--rounds N]
        [--connections C] [--loadgen wrk|python]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    BENCH_DIR,
    PYTHON,
    Line,
    Server,
    baseline_server,
    data_dir_and_token,
    dump_json,
    fmt_mib,
    get_json,
    kefu_server,
    machine_facts,
    median,
    print_facts,
    print_lines,
    print_table,
    ratio,
    temp_dir,
)

# /healthz is no API read: it shows what kefu's HTTP stack (middleware, FastAPI routing) costs
# without authentication or database, to split the overhead of the two API reads.
ENDPOINTS = {"healthz": "/healthz", "me": "/api/v1/me", "users": "/api/v1/users?limit=50"}
API_READS = ("me", "users")
SERVERS = ("kefu", "baseline")


@dataclass(frozen=True)
class Settings:
    duration: float = 10.0
    warmup: float = 2.0
    warm_every_endpoint: bool = True  # False: warm up on the heaviest endpoint only (--quick)
    rounds: int = 3
    connections: int = 16
    loadgen: str = "wrk"


@dataclass(frozen=True)
class Sample:
    server: str
    endpoint: str
    round: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    bytes_per_response: float


@dataclass
class ThroughputResult:
    settings: Settings
    samples: list[Sample] = field(default_factory=list)
    rss_after_kib: dict[str, int] = field(default_factory=dict)

    def of(self, server: str, endpoint: str) -> list[Sample]:
        return [s for s in self.samples if s.server == server and s.endpoint == endpoint]

    def rps(self, server: str, endpoint: str) -> float:
        return median([s.rps for s in self.of(server, endpoint)])

    def lines(self) -> list[Line]:
        lines = []
        for endpoint, path in ENDPOINTS.items():
            kefu, base = self.rps("kefu", endpoint), self.rps("baseline", endpoint)
            lines.append(
                Line(
                    f"GET {path} req/s (median)", f"{kefu:,.0f}", f"{base:,.0f}", f"{ratio(base, kefu):.1f}x"
                )
            )
            k50 = median([s.p50_ms for s in self.of("kefu", endpoint)])
            b50 = median([s.p50_ms for s in self.of("baseline", endpoint)])
            k99 = median([s.p99_ms for s in self.of("kefu", endpoint)])
            b99 = median([s.p99_ms for s in self.of("baseline", endpoint)])
            lines.append(
                Line(
                    f"  latency p50 / p99 (ms, c={self.settings.connections})",
                    f"{k50:.1f} / {k99:.1f}",
                    f"{b50:.1f} / {b99:.1f}",
                    f"{ratio(k50, b50):.1f}x / {ratio(k99, b99):.1f}x",
                )
            )
        return lines

    def raw(self) -> dict[str, Any]:
        return asdict(self)


def _wrk(url: str, token: str, settings: Settings, duration: float) -> dict[str, Any]:
    return _parse(
        [
            "wrk",
            "-t1",
            f"-c{settings.connections}",
            f"-d{max(1, round(duration))}s",  # wrk takes whole seconds
            "--timeout",
            "10s",
            "-H",
            f"Authorization: Bearer {token}",
            "-s",
            str(BENCH_DIR / "wrk_report.lua"),
            url,
        ],
        duration,
    )


def _python(url: str, token: str, settings: Settings, duration: float) -> dict[str, Any]:
    return _parse(
        [
            PYTHON,
            str(BENCH_DIR / "loadgen.py"),
            "--url",
            url,
            "--duration",
            f"{duration:g}",
            "--connections",
            str(settings.connections),
            "--header",
            f"Authorization: Bearer {token}",
        ],
        duration,
    )


def _parse(argv: list[str], duration: float) -> dict[str, Any]:
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            figures: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            return figures
    raise RuntimeError(f"no BENCH_JSON line from {argv[0]}:\n{out.stdout}\n{out.stderr}")


def load(server: Server, path: str, token: str, settings: Settings, duration: float) -> dict[str, Any]:
    url = server.url + path
    figures = (_wrk if settings.loadgen == "wrk" else _python)(url, token, settings, duration)
    if figures["status_errors"] or not figures["requests"]:
        raise RuntimeError(f"{server.name} {path}: {figures['status_errors']} non-2xx answers: {figures}")
    return figures


def measure(data_dir: Path, token: str, work_dir: Path, settings: Settings) -> ThroughputResult:
    """Load kefu (on a provisioned ``data_dir``) and the baseline, interleaved."""
    result = ThroughputResult(settings)
    with kefu_server(data_dir, work_dir, demo=False) as kefu:
        kefu.wait_ready()
        payloads = {name: get_json(kefu.url + ENDPOINTS[name], token) for name in API_READS}
        if len(payloads["users"]["items"]) != 50:
            raise RuntimeError(f"expected 50 users in a page, got {len(payloads['users']['items'])}")
        payload_file = work_dir / "payloads.json"
        dump_json(payload_file, payloads)
        with baseline_server(work_dir, payload_file) as base:
            base.wait_ready()
            if get_json(base.url + ENDPOINTS["users"]) != payloads["users"]:
                raise RuntimeError("the baseline does not return kefu's document")
            servers = {"kefu": kefu, "baseline": base}
            warm_paths = ENDPOINTS.values() if settings.warm_every_endpoint else [ENDPOINTS["users"]]
            for path in warm_paths:
                for name in SERVERS:
                    load(servers[name], path, token, settings, settings.warmup)
            for rnd in range(settings.rounds):
                order = SERVERS if rnd % 2 == 0 else SERVERS[::-1]
                for endpoint, path in ENDPOINTS.items():
                    for name in order:
                        f = load(servers[name], path, token, settings, settings.duration)
                        sample = Sample(
                            server=name,
                            endpoint=endpoint,
                            round=rnd + 1,
                            requests=int(f["requests"]),
                            rps=f["requests"] / f["duration_s"],
                            p50_ms=float(f["p50_ms"]),
                            p99_ms=float(f["p99_ms"]),
                            bytes_per_response=f["bytes"] / f["requests"],
                        )
                        result.samples.append(sample)
                        print(
                            f"  round {rnd + 1}/{settings.rounds} {name:<8} {path:<24} {sample.rps:>8,.0f} "
                            f"req/s  p50 {sample.p50_ms:6.1f} ms  p99 {sample.p99_ms:6.1f} ms",
                            flush=True,
                        )
            result.rss_after_kib = {name: server.settled_rss_kib() for name, server in servers.items()}
    return result


def run(settings: Settings, provisioned: tuple[Path, str] | None = None) -> ThroughputResult:
    """Provision a data dir (unless given one with its token), then measure."""
    with temp_dir("throughput") as work_dir:
        data_dir, token = data_dir_and_token(work_dir, provisioned)
        return measure(data_dir, token, work_dir, settings)


def report(result: ThroughputResult) -> None:
    s = result.settings
    print(
        f"\n{s.rounds} rounds x {s.duration:g} s per server and endpoint, {s.connections} connections, "
        f"load generator: {s.loadgen}"
    )
    rows = []
    for endpoint, path in ENDPOINTS.items():
        for name in SERVERS:
            samples = result.of(name, endpoint)
            rows.append(
                [
                    name,
                    path,
                    " ".join(f"{x.rps:,.0f}" for x in samples),
                    f"{median([x.rps for x in samples]):,.0f}",
                    f"{median([x.p50_ms for x in samples]):.1f}",
                    f"{median([x.p99_ms for x in samples]):.1f}",
                    f"{samples[0].bytes_per_response:,.0f}",
                ]
            )
    print_table(
        ["server", "endpoint", "req/s per round", "median req/s", "p50 ms", "p99 ms", "bytes/answer"], rows
    )
    if s.loadgen != "wrk":
        print(
            "NOTE: Python load generator: the baseline's req/s may be its limit, not the server's (use wrk)"
        )
    print(
        "RSS after the load: "
        + ", ".join(f"{name} {fmt_mib(kib)}" for name, kib in result.rss_after_kib.items())
    )
    print()
    print_lines(result.lines())


def default_loadgen() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def settings_for(quick: bool, **overrides: Any) -> Settings:
    base = Settings(duration=2.0, warmup=1.0, rounds=1, warm_every_endpoint=False) if quick else Settings()
    values = {**asdict(base), **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(**values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, 1 s warm-up on one endpoint")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 16)")
    parser.add_argument("--loadgen", choices=["wrk", "python"], help="default: wrk when installed")
    args = parser.parse_args()
    settings = settings_for(
        args.quick,
        duration=args.duration,
        rounds=args.rounds,
        connections=args.connections,
        loadgen=args.loadgen or default_loadgen(),
    )
    print("kefu API throughput benchmark")
    print_facts(machine_facts())
    report(run(settings))


if __name__ == "__main__":
    main()
