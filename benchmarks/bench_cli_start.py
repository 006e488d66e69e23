"""CLI start-up: wall time of short ``fennec`` commands, against the interpreter's own start.

Each command runs in a fresh process ``--runs`` times (after one warm-up run, which also lets
Python write its bytecode caches where it may); the table shows the median, the fastest and
the ratio of the median to ``python -c "import numpy"`` measured in the same run (the
yardstick: no Python tool that touches an array starts faster). Targets: ``fennec rank --zoo
hf-nlp`` under 0.5 s, ``fennec rank --zoo hf-nlp --describe ...`` under 1.5 s. The last row runs
the same described ranking with the text proxy's sentence-transformers backend (torch), the
default before the ONNX Runtime backend; it embeds the zoo's 37 descriptions too, since the zoo
stores the onnx backend's embeddings.

Where the time goes: ``python -X importtime -m fennec_core.cli rank --top 10`` lists every
import; ``python -m cProfile -s cumtime -m fennec_core.cli rank --top 10`` the rest. Run:

    python benchmarks/bench_cli_start.py [--runs 7] [--skip-torch]
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

DESCRIPTION = "Classify the sentiment of movie reviews as positive or negative."
#: The CLI's described ranking with the text proxy's sentence-transformers backend as the default.
TORCH_BACKEND = ("import sys; from fennec_plugins.task_proxies import text; "
                 "text.TextProxy.__init__.__kwdefaults__['backend'] = 'sentence-transformers'; "
                 "from fennec_core.cli import main; sys.exit(main({argv!r}))")


def fennec_command() -> list[str]:
    """The installed ``fennec`` script beside this interpreter, else ``python -m fennec_core.cli``."""
    script = Path(sys.executable).with_name("fennec")
    if script.exists():
        return [str(script)]
    found = shutil.which("fennec")
    return [found] if found else [sys.executable, "-m", "fennec_core.cli"]


def wall_times(argv: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh processes of ``argv`` (after one warm-up run); each must exit 0."""
    # bytecode caches as a user's installation has them (the warm-up run writes them)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"HF_HUB_OFFLINE": "1"}
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
    ap.add_argument("--skip-torch", action="store_true", help="leave out the sentence-transformers row")
    args = ap.parse_args()
    fennec = fennec_command()
    describe = ["rank", "--zoo", "hf-nlp", "--describe", DESCRIPTION, "--top", "10", "-q"]
    commands = [
        ('python -c "import numpy"', [sys.executable, "-c", "import numpy"]),
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("fennec --version", [*fennec, "--version"]),
        ("fennec plugins", [*fennec, "plugins"]),
        ("fennec rank --top 10", [*fennec, "rank", "--top", "10", "-q"]),
        ("fennec rank --zoo hf-nlp --top 10", [*fennec, "rank", "--zoo", "hf-nlp", "--top", "10", "-q"]),
        ('fennec rank --zoo hf-nlp --describe "..." --top 10', [*fennec, *describe]),
    ]
    if not args.skip_torch:
        commands.append(('the same, backend=sentence-transformers (torch)',
                         [sys.executable, "-c", TORCH_BACKEND.format(argv=describe)]))
    rows = []
    for label, argv in commands:
        t = wall_times(argv, args.runs)
        rows.append((label, statistics.median(t), min(t)))
    base = rows[0][1]
    print(f"{args.runs} runs each (median, fastest); ratio = median / `python -c \"import numpy\"`; "
          "bytecode caches written by the warm-up run\n")
    print("| command | median | fastest | ratio |")
    print("|---|---|---|---|")
    for label, median, fastest in rows:
        print(f"| `{label}` | {median * 1e3:.0f} ms | {fastest * 1e3:.0f} ms | {median / base:.1f}x |")


if __name__ == "__main__":
    main()
