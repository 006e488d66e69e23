"""Scale benchmark of a sparse history: ``fennec fit``, the store, ``rank`` and ``update``
on synthetic histories up to ModelLens's size (50,000 models x 10,000 tasks, 1.62M results).

The synthetic history (seeded): rank-8 structure plus noise in accuracy-like units (a model
bias, a task offset and scale); the number of tasks per model is Zipf-like (a few models
evaluated on thousands of tasks, most on a handful), and tasks are drawn with Zipf-like
popularity. Each size is written as a long CSV, then every step runs as the user runs it, in
its own process through the CLI:

- ``fennec fit --history H.csv --out Z.zarr``: wall seconds and peak RSS;
- the store's size on disk;
- ``fennec rank --zoo Z.zarr --task T``: wall seconds including Python start and the load;
- ``fennec update --zoo Z.zarr --history NEW.csv --out Z2.zarr``: one new task with scores
  for 1% of the models (at least 20), folded in.

The table's last rows give each cost's growth against the number of observed cells between
consecutive sizes: the exponent ``b`` of ``cost ~ cells^b`` (1 is linear). Peak RSS is read from
``getrusage`` of a wrapper process per step (Linux: kilobytes). Run:

    python benchmarks/bench_sparse_scale.py [--sizes 2000x400x65000,...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from cli_runs import folder_mb, measured  # noqa: E402  (a sibling module: benchmarks/ is the script folder)

DEFAULT_SIZES = "2000x400x65000,6000x1200x200000,17000x3400x560000,50000x10000x1620000"
RANK = 8


def synthetic_cells(m: int, n: int, cells: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, scores) of a seeded synthetic history with about ``cells`` observed cells."""
    rng = np.random.default_rng(seed)
    per_model = (np.arange(1, m + 1, dtype=np.float64)) ** -0.8  # Zipf-like tasks per model
    per_model = np.clip(np.round(per_model / per_model.sum() * cells * 1.13), 1, n).astype(np.int64)
    popularity = np.arange(1, n + 1, dtype=np.float64) ** -0.6  # Zipf-like task popularity
    popularity /= popularity.sum()
    rows = np.repeat(rng.permutation(m), per_model)
    cols = rng.choice(n, size=rows.size, p=popularity)
    key = np.unique(rows * n + cols)  # a model drawn twice on one task keeps one cell
    rows, cols = key // n, key % n
    U, V = rng.standard_normal((m, RANK)), rng.standard_normal((n, RANK))
    bias, offset = 0.05 * rng.standard_normal(m), rng.uniform(0.4, 0.8, n)
    scale = rng.uniform(0.05, 0.15, n)
    z = np.einsum("ij,ij->i", U[rows], V[cols]) / math.sqrt(RANK) + bias[rows] + 0.3 * rng.standard_normal(rows.size)
    return rows, cols, offset[cols] + scale[cols] * z


def write_csv(path: Path, rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> None:
    """A long ``model,task,score`` CSV of the cells."""
    with open(path, "w") as f:
        f.write("model,task,score\n")
        for start in range(0, rows.size, 200_000):
            sl = slice(start, start + 200_000)
            f.write("".join(f"m{i},t{j},{s:.6f}\n" for i, j, s in zip(rows[sl].tolist(), cols[sl].tolist(),
                                                                         scores[sl].tolist(), strict=True)))


def run_size(m: int, n: int, cells: int, work: Path) -> dict[str, float]:
    """Every measurement for one size."""
    rows, cols, scores = synthetic_cells(m, n, cells)
    hist = work / f"history_{m}x{n}.csv"
    write_csv(hist, rows, cols, scores)
    zoo = work / f"zoo_{m}x{n}.zarr"
    fit_s, _, fit_gb, _ = measured(["-q", "fit", "--history", str(hist), "--out", str(zoo)])
    busiest = f"t{np.bincount(cols, minlength=n).argmax()}"
    rank_s, _, rank_gb, _ = measured(["-q", "rank", "--zoo", str(zoo), "--task", busiest, "--top", "10"])
    rng = np.random.default_rng(1)
    picked = np.sort(rng.choice(m, max(20, m // 100), replace=False))
    new = work / f"new_{m}x{n}.csv"
    with open(new, "w") as f:
        f.write("model,task,score\n" + "".join(f"m{i},tnew,{0.6 + 0.1 * rng.standard_normal():.6f}\n"
                                               for i in picked.tolist()))
    upd_s, _, upd_gb, _ = measured(["-q", "update", "--zoo", str(zoo), "--history", str(new), "--out",
                                 str(work / f"zoo_{m}x{n}_updated.zarr")])
    info = json.loads((zoo / "zarr.json").read_text())["attributes"]["fennec"]["factors_info"]
    return {"models": m, "tasks": n, "cells": rows.size, "fit_s": fit_s, "fit_gb": fit_gb, "sweeps": info["n_iter"],
            "store_mb": folder_mb(zoo), "rank_s": rank_s, "rank_gb": rank_gb, "update_s": upd_s,
            "update_gb": upd_gb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="models x tasks x cells, comma separated")
    ap.add_argument("--keep", default=None, help="keep the CSVs and stores in this folder")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fennec-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for size in args.sizes.split(","):
            m, n, c = (int(x) for x in size.split("x"))
            t0 = time.perf_counter()
            results.append(run_size(m, n, c, work))
            print(f"  {m} x {n}: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"cpu cores: {os.cpu_count()}")
    print("| models x tasks | observed cells | fit (s) | pmf sweeps | fit peak RSS (GB) | store (MB) "
          "| rank incl. load (s) | rank peak RSS (GB) | update: one task (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['models']:,} x {r['tasks']:,} | {r['cells']:,} | {r['fit_s']:.1f} | {r['sweeps']} | {r['fit_gb']:.2f} | "
              f"{r['store_mb']:.1f} | {r['rank_s']:.2f} | {r['rank_gb']:.2f} | {r['update_s']:.2f} |")
    if len(results) > 1:
        print()
        print("growth exponent b of cost ~ cells^b between consecutive sizes (1 = linear):")
        print("| from -> to (cells) | fit time | fit time per sweep | fit peak RSS | store | rank | update |")
        print("|---|---|---|---|---|---|---|")
        for a, b in zip(results, results[1:], strict=False):
            lc = math.log(b["cells"] / a["cells"])
            for r in (a, b):
                r["sweep_s"] = r["fit_s"] / r["sweeps"]
            g = [math.log(b[k] / a[k]) / lc for k in ("fit_s", "sweep_s", "fit_gb", "store_mb", "rank_s", "update_s")]
            print(f"| {a['cells']:,} -> {b['cells']:,} | " + " | ".join(f"{x:.2f}" for x in g) + " |")


if __name__ == "__main__":
    main()
