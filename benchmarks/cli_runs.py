"""What the scale benchmarks measure the same way: a ``fennec`` command run as a user runs it,
in its own process (wall and CPU seconds, peak RSS), and a store's size on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple


class Run(NamedTuple):
    """One ``fennec`` command: wall seconds, CPU seconds, peak RSS in GB, its stdout."""

    wall: float
    cpu: float
    gb: float
    stdout: str


def measured(argv: list[str]) -> Run:
    """``fennec ARGV`` run in a wrapper process that times it and reads its children's rusage;
    a failing command stops the benchmark with its stderr."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "wall = time.perf_counter() - t; sys.stderr.write(p.stderr); "
               "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print(wall, u.ru_utime + u.ru_stime, u.ru_maxrss, p.returncode); print(p.stdout, end='')")
    out = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "fennec_core.cli", *argv],
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    head, _, rest = out.stdout.partition("\n")
    wall, cpu, rss_kb, rc = head.split()
    if int(rc) != 0:
        raise SystemExit(f"fennec {' '.join(argv)} failed:\n{out.stderr}")
    return Run(float(wall), float(cpu), int(rss_kb) / 1e6, rest)


def folder_mb(path: Path) -> float:
    """Bytes under ``path`` in MB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
