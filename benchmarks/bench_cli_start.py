"""CLI start-up: wall time of short ``fennec`` commands, against the interpreter's own start.

Each command runs in a fresh process ``--runs`` times (after one warm-up run, which also lets
Python write its bytecode caches where it may); the table shows the median, the fastest and
the ratio of the median to ``python -c pass`` measured in the same run. The target for
``fennec rank --top 10`` (the bundled zoo, nothing known about the task) is 1.5 s wall.

Where the time goes: ``python -X importtime -m fennec_core.cli rank --top 10`` lists every
import; ``python -m cProfile -s cumtime -m fennec_core.cli rank --top 10`` the rest. Run:

    python benchmarks/bench_cli_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def fennec_command() -> list[str]:
    """The installed ``fennec`` script beside this interpreter, else ``python -m fennec_core.cli``."""
    script = Path(sys.executable).with_name("fennec")
    if script.exists():
        return [str(script)]
    found = shutil.which("fennec")
    return [found] if found else [sys.executable, "-m", "fennec_core.cli"]


def wall_times(argv: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh processes of ``argv`` (after one warm-up run); each must exit 0."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    times = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
        elapsed = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.decode()[-500:]}")
        if i:
            times.append(elapsed)
    return times


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    args = ap.parse_args()
    fennec = fennec_command()
    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("fennec --version", [*fennec, "--version"]),
        ("fennec plugins", [*fennec, "plugins"]),
        ("fennec rank --top 10", [*fennec, "rank", "--top", "10", "-q"]),
    ]
    rows = []
    for label, argv in commands:
        t = wall_times(argv, args.runs)
        rows.append((label, statistics.median(t), min(t)))
    base = rows[0][1]
    print(f"{args.runs} runs each (median, fastest); ratio = median / `python -c pass`; "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '') or 'unset'}\n")
    print("| command | median | fastest | ratio |")
    print("|---|---|---|---|")
    for label, median, fastest in rows:
        print(f"| `{label}` | {median * 1e3:.0f} ms | {fastest * 1e3:.0f} ms | {median / base:.1f}x |")


if __name__ == "__main__":
    main()
