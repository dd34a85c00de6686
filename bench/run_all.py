"""Run every kefu benchmark and print one summary (see docs/BENCHMARKS.md).

    .venv/bin/python bench/run_all.py            # the full run, about 5 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick    # a smoke run, under a minute; figures are rough
    .venv/bin/python bench/run_all.py --json bench/results/run.json   # also keep the raw figures

Each benchmark compares kefu with a bare Starlette app under uvicorn (bench/baseline_app.py)
measured in the same run on the same machine; read the ratios, not the absolute figures, when
comparing runs made on different machines or under different load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import api_throughput
import memory
import startup
from harness import Line, machine_facts, print_facts, print_lines, provision, temp_dir


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short run: fewer repetitions and rounds")
    parser.add_argument("--json", type=Path, help="write the raw figures of every benchmark to this file")
    parser.add_argument("--loadgen", choices=["wrk", "python"], help="default: wrk when installed")
    args = parser.parse_args()

    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    command = shlex.join([str(python), *sys.argv])
    facts = machine_facts()
    print(f"kefu benchmarks: {command}")
    print_facts(facts)
    started = time.perf_counter()

    sections: dict[str, float] = {}
    mark = started

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        sections[name] = now - mark
        mark = now

    print("\n== start-up ==", flush=True)
    startup_result = startup.run(2, import_reps=0) if args.quick else startup.run(5)
    startup.report(startup_result)
    lap("start-up")

    settings = api_throughput.settings_for(
        args.quick, loadgen=args.loadgen or api_throughput.default_loadgen()
    )
    with temp_dir("run-all") as work_dir:
        print(
            "\n== provisioning a data dir (kefu createuser, login, token, 60 agents, 3 teams) ==", flush=True
        )
        data_dir = work_dir / "data"
        token = provision(data_dir, work_dir).token
        lap("provisioning")

        print("\n== idle memory ==", flush=True)
        memory_result = memory.measure(data_dir, token, work_dir, 1 if args.quick else 3)
        memory.report(memory_result)
        lap("memory")

        print("\n== API throughput ==", flush=True)
        throughput_result = api_throughput.measure(data_dir, token, work_dir, settings)
        api_throughput.report(throughput_result)
        lap("throughput")

    elapsed = time.perf_counter() - started
    lines: list[Line] = [*startup_result.lines(), *memory_result.lines(), *throughput_result.lines()]
    took = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in sections.items())
    print(f"\n== summary ({'quick' if args.quick else 'full'} run, {elapsed:.0f} s: {took}) ==")
    print("ratio: kefu / baseline for times and memory, baseline / kefu for req/s (higher = kefu slower)")
    print_lines(lines)

    if args.json is not None:
        raw: dict[str, Any] = {
            "command": command,
            "facts": facts,
            "quick": args.quick,
            "elapsed_s": elapsed,
            "sections_s": sections,
            "startup": startup_result.raw(),
            "memory": memory_result.raw(),
            "api_throughput": throughput_result.raw(),
            "summary": [asdict(line) for line in lines],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"\nraw figures written to {args.json}")


if __name__ == "__main__":
    main()
