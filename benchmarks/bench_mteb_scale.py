"""Fit cost on the MTEB subset-level history (673 models x 11,162 task subsets, 1.22M scores).

Four sizes: seeded random subsets of 1/8, 1/4, 1/2 and all of the task subsets (every model
kept). Each size is fitted by ``fennec fit`` as a user runs it (its own process, the mteb zoo's
settings: ``pmf`` k=8 with 30 sweeps, ``zscore-clip``), and the table shows wall time, CPU time (user + system,
less sensitive than wall time to other work on the machine), peak RSS (``getrusage`` of a wrapper
process) and the store's size, then the growth exponent ``b`` of ``cost ~ cells^b`` between
consecutive sizes (1 = linear) and the ratio of the full size to the goals (fit < 2 min, < 4 GB).

Run from the repository root:
``python benchmarks/bench_mteb_scale.py --data DIR``, DIR holding the MTEB subset-level results
``results_subset_level.csv.gz`` (model,task,score over task subsets, from embeddings-benchmark/results;
not in this repository); writes only into a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from cli_runs import folder_mb, measured  # noqa: E402  (a sibling module: benchmarks/ is the script folder)

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"fit_s": 120.0, "fit_gb": 4.0}


def read_cells(path: Path) -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(models, tasks, rows, cols, scores) of the long table."""
    models: dict[str, int] = {}
    tasks: dict[str, int] = {}
    rows, cols, vals = [], [], []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(models.setdefault(r["model"], len(models)))
            cols.append(tasks.setdefault(r["task"], len(tasks)))
            vals.append(float(r["score"]))
    return list(models), list(tasks), np.array(rows), np.array(cols), np.array(vals)


def write_subset(path: Path, models: list[str], tasks: list[str], rows: np.ndarray, cols: np.ndarray,
                 vals: np.ndarray, keep: np.ndarray) -> int:
    """Write the cells of the kept task columns as a long CSV; returns their number."""
    sel = keep[cols]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["model", "task", "score"])
        w.writerows((models[i], tasks[j], repr(v)) for i, j, v in zip(rows[sel].tolist(), cols[sel].tolist(),
                                                                      vals[sel].tolist(), strict=True))
    return int(sel.sum())


def main(argv: list[str] | None = None) -> int:
    """Command line: fit at four sizes and print the tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True,
                   help="folder with MTEB's results_subset_level.csv.gz (not in this repository)")
    p.add_argument("--fractions", default="0.125,0.25,0.5,1")
    a = p.parse_args(argv)
    models, tasks, rows, cols, vals = read_cells(a.data / "results_subset_level.csv.gz")
    order = np.random.default_rng(0).permutation(len(tasks))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for frac in (float(f) for f in a.fractions.split(",")):
            keep = np.zeros(len(tasks), bool)
            keep[order[: max(2, round(frac * len(tasks)))]] = True
            hist = Path(tmp) / f"h{frac}.csv"
            cells = write_subset(hist, models, tasks, rows, cols, vals, keep)
            zoo = Path(tmp) / f"z{frac}.zarr"
            wall, cpu, gb, _ = measured(["-q", "fit", "--history", str(hist), "--out", str(zoo), "--config",
                                      "factorizer.k=8", "--config", "factorizer.max_iter=30", "--config",
                                      "normalization=zscore-clip"])
            results.append({"tasks": int(keep.sum()), "cells": cells, "fit_s": wall, "cpu_s": cpu, "fit_gb": gb,
                            "store_mb": folder_mb(zoo)})
            r = results[-1]
            print(f"{r['tasks']} tasks, {cells} cells: fit {wall:.1f} s (CPU {cpu:.1f} s), {gb:.2f} GB, "
                  f"store {r['store_mb']:.1f} MB", file=sys.stderr, flush=True)
    print("| task subsets | cells | fit wall (s) | fit CPU (s) | peak RSS (GB) | store (MB) |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['tasks']:,} | {r['cells']:,} | {r['fit_s']:.1f} | {r['cpu_s']:.1f} | {r['fit_gb']:.2f} | "
              f"{r['store_mb']:.1f} |")
    print("\ngrowth exponent b of cost ~ cells^b between consecutive sizes (1 = linear):\n"
          "| cells | fit wall | fit CPU | peak RSS | store |\n|---|---|---|---|---|")
    for x, y in zip(results, results[1:], strict=False):
        lc = math.log(y["cells"] / x["cells"])
        g = [math.log(y[k] / x[k]) / lc for k in ("fit_s", "cpu_s", "fit_gb", "store_mb")]
        print(f"| {x['cells']:,} -> {y['cells']:,} | " + " | ".join(f"{v:.2f}" for v in g) + " |")
    full = results[-1]
    print(f"\nlargest size vs the goals: fit {full['fit_s']:.1f} s = {full['fit_s'] / GOALS['fit_s']:.2f} x 2 min; "
          f"peak RSS {full['fit_gb']:.2f} GB = {full['fit_gb'] / GOALS['fit_gb']:.2f} x 4 GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
