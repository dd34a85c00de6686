"""Cold start of ``kefu serve``: wall time from process start until /readyz answers 200.

Three measurements, interleaved in every repetition so that machine noise hits all of them:

* baseline: bench/baseline_app.py (bare Starlette) under ``python -m uvicorn``;
* kefu, fresh data dir: ``python -m kefu serve`` on an empty directory (first run: secret key,
  every migration, the demo workspace with its argon2-hashed passwords);
* kefu, warm data dir: the same directory started again (migrations and demo already there).

Before timing, one untimed import of kefu (which imports uvicorn and Starlette too) compiles
the bytecode and fills the page cache, as after ``pip install``. The import times of the two
sides (timed inside a bare interpreter) are also reported (not with --quick), to tell Python
imports apart from kefu's own start-up work.

    .venv/bin/python bench/startup.py [--quick] [--reps N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

from harness import (
    PYTHON,
    Line,
    baseline_server,
    fmt_ms,
    kefu_server,
    machine_facts,
    median,
    print_facts,
    print_lines,
    print_table,
    ratio,
    temp_dir,
)

IMPORTS = {
    "baseline imports": "uvicorn.main, starlette.applications",
    "kefu imports": "uvicorn.main, kefu.cli, kefu.app, kefu.demo",
}
# Timed inside the child, which then leaves with os._exit: neither the interpreter's start
# (the same for both) nor its tear-down (long after many imports; no server pays it) counts.
_TIMED_IMPORT = (
    "import os, time; t = time.perf_counter(); import {}; print(time.perf_counter() - t); os._exit(0)"
)


@dataclass
class StartupResult:
    reps: int
    baseline_s: list[float] = field(default_factory=list)
    kefu_fresh_s: list[float] = field(default_factory=list)
    kefu_warm_s: list[float] = field(default_factory=list)
    imports_s: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in IMPORTS})

    def lines(self) -> list[Line]:
        base = median(self.baseline_s)
        fresh = median(self.kefu_fresh_s)
        warm = median(self.kefu_warm_s)
        return [
            Line(
                "start-up, fresh data dir (median)", fmt_ms(fresh), fmt_ms(base), f"{ratio(fresh, base):.1f}x"
            ),
            Line("start-up, warm data dir (median)", fmt_ms(warm), fmt_ms(base), f"{ratio(warm, base):.1f}x"),
        ]

    def raw(self) -> dict[str, Any]:
        return asdict(self)


def _import_time(modules: str) -> float:
    code = _TIMED_IMPORT.format(modules)
    out = subprocess.run([PYTHON, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    return float(out.stdout.strip())


def run(reps: int, import_reps: int | None = None) -> StartupResult:
    """``reps`` timed starts of each kind; the imports are timed in the first ``import_reps``."""
    import_reps = reps if import_reps is None else import_reps
    result = StartupResult(reps=reps)
    _import_time(IMPORTS["kefu imports"])  # untimed: compile bytecode, warm the page cache
    with temp_dir("startup") as tmp:
        for rep in range(reps):
            with baseline_server(tmp) as base:
                result.baseline_s.append(base.wait_ready())
            data_dir = tmp / f"data-{rep}"
            with kefu_server(data_dir, tmp) as fresh:
                result.kefu_fresh_s.append(fresh.wait_ready())
            with kefu_server(data_dir, tmp) as warm:
                result.kefu_warm_s.append(warm.wait_ready())
            shutil.rmtree(data_dir)
            if rep < import_reps:
                for name, code in IMPORTS.items():
                    result.imports_s[name].append(_import_time(code))
            print(
                f"  rep {rep + 1}/{reps}: baseline {fmt_ms(result.baseline_s[-1])}, "
                f"kefu fresh {fmt_ms(result.kefu_fresh_s[-1])}, kefu warm {fmt_ms(result.kefu_warm_s[-1])}",
                flush=True,
            )
    return result


def report(result: StartupResult) -> None:
    rows: list[tuple[str, list[float]]] = [
        ("baseline (bare Starlette)", result.baseline_s),
        ("kefu, fresh data dir", result.kefu_fresh_s),
        ("kefu, warm data dir", result.kefu_warm_s),
        *[(f"{name} (in a bare interpreter)", t) for name, t in result.imports_s.items() if t],
    ]
    print(f"\nTime until /readyz answers 200, {result.reps} repetitions:")
    print_table(
        ["", "min", "median", "max"],
        [[label, fmt_ms(min(t)), fmt_ms(median(t)), fmt_ms(max(t))] for label, t in rows],
    )
    print()
    print_lines(result.lines())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 repetitions instead of 5, no import times")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 5, --quick 2)")
    args = parser.parse_args()
    reps = args.reps or (2 if args.quick else 5)
    print("kefu start-up benchmark")
    print_facts(machine_facts())
    report(run(reps, 0 if args.quick else reps))


if __name__ == "__main__":
    main()
