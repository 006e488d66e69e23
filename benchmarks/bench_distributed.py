"""Spark (MLlib ALS, ``spark-als`` on ``local[2]``) beside in-process ``pmf``: quality and cost.

Two parts, each printing a Markdown table:

``--loo fennec105,modelspider,parc[,hf-nlp]``
    leave-one-task-out with each factorizer (k=3, default settings, ``jobs=1``): mean weighted
    tau of Fennec and of the static baseline, and the pooled coverage of the 90% intervals.
``--speed mteb,160k,1.6M,16M``
    ``fennec fit`` through the CLI, each in its own process, on the MTEB subset-level table
    (``--mteb PATH``, a long ``model,task,score`` CSV.gz) and on seeded synthetic histories of
    160k, 1.6M and 16M results (the generator of ``bench_sparse_scale.py``): wall seconds, peak RSS
    of the driver (the Python process and, for Spark, its JVM: the sum over the process tree,
    sampled every 0.2 s), store size, and the agreement of the two fits' rankings (weighted
    tau between pmf's and spark-als's predicted scores, mean over the 20 most observed tasks).
    The last rows give growth exponents (cost ~ cells^b) and a projection to 1B results.

Run (2 shared cores here; see docs/distributed.md for what was run):

    python benchmarks/bench_distributed.py --loo fennec105,modelspider,parc
    python benchmarks/bench_distributed.py --speed mteb,1.6M --mteb data/mteb/results_subset_level.csv.gz
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cli_runs import folder_mb  # noqa: E402  (a sibling module: benchmarks/ is the script folder)

SYNTHETIC = {"160k": (5_000, 1_000, 162_000), "1.6M": (50_000, 10_000, 1_620_000),
             "16M": (200_000, 40_000, 16_000_000)}


# -- quality -----------------------------------------------------------------------------------


def loo_tables(names: list[str]):
    """(name, History) for each requested table (the shared published tables, hf-nlp's bundled history)."""
    from conftest import DATA, PUBLISHED

    from fennec_core.io.bundled import data_path
    from fennec_core.io.tables import convert_table, read_history

    for name in names:
        if name == "hf-nlp":
            yield name, read_history(data_path("nlp/history.csv.gz"))
        else:
            fname, kwargs = PUBLISHED[name]
            yield name, convert_table(DATA / fname, **kwargs)


def run_loo(names: list[str], k: int, reg: str = "auto") -> None:
    """Print LOO weighted tau and interval coverage of pmf and spark-als per table."""
    from fennec_core import Fennec
    from fennec_core.evaluation import evaluate

    print("| table | factorizer | weighted tau (fennec) | weighted tau (static) | 90% coverage | seconds |")
    print("|---|---|---|---|---|---|")
    for name, history in loo_tables(names):
        for fz in ("pmf", "spark-als"):
            t0 = time.perf_counter()
            config = {"k": k, **({"reg": reg if reg == "auto" else float(reg)} if fz == "spark-als" else {})}
            report = evaluate(Fennec(factorizer=fz, factorizer_config=config), history, protocol="loo")
            summary = report.interval_summary()
            cov = "-" if summary is None else f"{summary['coverage']:.1%}"
            print(f"| {name} | {fz} | {report.mean('method')['weighted_tau']:.4f} | "
                  f"{report.mean('static')['weighted_tau']:.4f} | "
                  f"{cov} | {time.perf_counter() - t0:.0f} |", flush=True)


# -- cost --------------------------------------------------------------------------------------


def tree_rss_gb(pid: int) -> float:
    """RSS of a process and all its descendants, in GB."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 1e9


def measured_fit(history: Path, out: Path, factorizer: str, extra: list[str]) -> tuple[float, float]:
    """(wall seconds, peak tree RSS in GB) of ``fennec fit`` in its own process."""
    argv = [sys.executable, "-m", "fennec_core.cli", "-q", "fit", "--history", str(history), "--out", str(out),
            "--factorizer", factorizer, "--config", "factorizer.k=3", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_gb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, peak[0]


def agreement(zoo_a: Path, zoo_b: Path, tasks: int = 20) -> float:
    """Mean weighted tau between two fitted zoos' predicted scores on the most observed tasks."""
    from fennec_core import Fennec
    from fennec_core.metrics import weighted_tau

    a, b = Fennec.load(zoo_a).zoo_, Fennec.load(zoo_b).zoo_
    if sorted(a.model_ids) != sorted(b.model_ids) or sorted(a.task_ids) != sorted(b.task_ids):
        raise SystemExit("the two zoos hold different models or tasks")
    # spark-als reads the history through Spark and stores ids sorted; align b's rows to a's
    rows_b = {mid: i for i, mid in enumerate(b.model_ids)}
    cols_b = {tid: j for j, tid in enumerate(b.task_ids)}
    Ub = b.factors.U[[rows_b[mid] for mid in a.model_ids]]
    busiest = np.argsort(-a.history.task_counts(), kind="stable")[:tasks]
    taus = [weighted_tau(a.factors.U @ a.factors.V[j], Ub @ b.factors.V[cols_b[a.task_ids[j]]]) for j in busiest]
    return float(np.mean(taus))


def run_speed(sources: list[str], mteb: str | None, reg: str, work: Path) -> None:
    """Print the cost table for each source."""
    from bench_sparse_scale import synthetic_cells, write_csv

    results = []
    for src in sources:
        if src == "mteb":
            if not mteb:
                raise SystemExit("--speed mteb needs --mteb PATH (the subset-level results CSV.gz)")
            hist = Path(mteb)
        else:
            m, n, c = SYNTHETIC[src]
            rows, cols, scores = synthetic_cells(m, n, c)
            hist = work / f"history_{src}.csv"
            write_csv(hist, rows, cols, scores)
        row = {"source": src}
        for fz, extra in (("pmf", []), ("spark-als", ["--config", f"factorizer.reg={reg}"])):
            out = work / f"{src}_{fz}.zarr"
            wall, gb = measured_fit(hist, out, fz, extra)
            row[fz] = {"s": wall, "gb": gb, "mb": folder_mb(out)}
            print(f"  {src} {fz}: {wall:.0f} s, {gb:.2f} GB", file=sys.stderr, flush=True)
        row["cells"] = observed_cells(work / f"{src}_pmf.zarr")
        row["agreement"] = agreement(work / f"{src}_pmf.zarr", work / f"{src}_spark-als.zarr")
        results.append(row)
    print(f"cpu cores: {os.cpu_count()}; spark-als: local[2], reg={reg}")
    print("| history | results | pmf fit (s) | spark-als fit (s) | ratio | pmf peak RSS (GB) | spark-als peak RSS, "
          "Python + JVM (GB) | store pmf / spark-als (MB) | ranking agreement (w-tau) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        p, s = r["pmf"], r["spark-als"]
        print(f"| {r['source']} | {r['cells']:,} | {p['s']:.1f} | {s['s']:.1f} | {s['s'] / p['s']:.2f} | "
              f"{p['gb']:.2f} | {s['gb']:.2f} | {p['mb']:.1f} / {s['mb']:.1f} | {r['agreement']:.3f} |")
    if len(results) > 1:
        a, b = results[-2], results[-1]
        grow = math.log(b["cells"] / a["cells"])
        for fz in ("pmf", "spark-als"):
            bt = math.log(b[fz]["s"] / a[fz]["s"]) / grow
            bm = math.log(b[fz]["gb"] / a[fz]["gb"]) / grow
            print(f"growth {a['source']} -> {b['source']}, {fz}: time ~ cells^{bt:.2f}, driver memory ~ cells^{bm:.2f}")
        per_cell_gb = b["spark-als"]["gb"] / b["cells"]
        print(f"projection to 1B results at the last size's spark-als memory per result ({per_cell_gb * 1e9:.0f} "
              f"bytes): {per_cell_gb * 1e9:.0f} GB in all, i.e. {math.ceil(per_cell_gb * 1e9 / 16)} executors of 16 GB")


def observed_cells(zoo: Path) -> int:
    """Observed cells of a stored zoo."""
    from fennec_core import Fennec

    return int(Fennec.load(zoo).zoo_.history.nnz)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loo", help="tables for the quality part: fennec105, modelspider, parc, hf-nlp")
    ap.add_argument("--k", type=int, default=3, help="latent size of both factorizers (3)")
    ap.add_argument("--loo-reg", default="auto", help="spark-als regularisation in the quality part (auto)")
    ap.add_argument("--speed", help="histories for the cost part: mteb, 160k, 1.6M, 16M")
    ap.add_argument("--mteb", help="the MTEB subset-level results (long CSV.gz model,task,score)")
    ap.add_argument("--reg", default="0.1", help="spark-als regularisation in the cost part (auto: 6 fits)")
    ap.add_argument("--keep", help="keep histories and stores in this folder")
    args = ap.parse_args()
    if not (args.loo or args.speed):
        ap.error("give --loo TABLES and/or --speed SOURCES")
    if args.loo:
        run_loo([t.strip() for t in args.loo.split(",") if t.strip()], args.k, args.loo_reg)
    if args.speed:
        work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fennec-distributed-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            run_speed([s.strip() for s in args.speed.split(",") if s.strip()], args.mteb, args.reg, work)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
