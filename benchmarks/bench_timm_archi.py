"""Capture, describe and encode every unique architecture of the timm zoo from scratch, timed.

The work ``scripts/zoos/build_timm_zoo.py`` does for the architecture columns of
``fennec_core/data/timm``: for each unique architecture of the zoo (``timm:<name>``, built on the
meta device with no weights), one meta forward + autograd walk (the graph), a second meta forward
under the FLOP counter and the parameter/layer counts
(:func:`fennec_core.architecture.encoding.describe_architecture`), then graph2vec (the paper's
settings) fitted on all graphs and reduced to 4 principal components
(:func:`fennec_core.architecture.encoding.encode_graphs`). The cache is a fresh temporary
``FENNEC_CACHE_DIR``, so nothing is reused from earlier runs.

Baselines measured in the same run: the same work on the 105 pytorchcv architectures of the
bundled zoo (cold, same temporary cache), and a second, cache-warm pass over the timm
architectures (graphs and features read back from the cache; graph2vec is fitted again, it has
no cache). ``--sample N`` times a seeded sample of N timm architectures instead of all of them
and extrapolates the totals to the whole zoo (capture in proportion to the number of
architectures, graph2vec in proportion to graph nodes, estimated from the sample's mean): the
extrapolated rows say so. Run (from the repository root; several minutes on 2 cores):

    HF_HUB_OFFLINE=1 python benchmarks/bench_timm_archi.py [--sample 150 --seed 0]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "fennec_core" / "data" / "timm" / "models.csv.gz"


def timm_architectures() -> list[str]:
    """Unique architecture references of the shipped timm zoo (or of timm's results, if absent)."""
    if MODELS.exists():
        text = gzip.decompress(MODELS.read_bytes()).decode()
        return sorted({r["architecture"] for r in csv.DictReader(io.StringIO(text))})
    raw = ROOT / "tests" / "data" / "timm_results" / "results-imagenet.csv"  # timm results/, copied in the repository
    with open(raw, newline="") as fh:
        return sorted({"timm:" + r["model"].split(".")[0] for r in csv.DictReader(fh)})


def pytorchcv_architectures() -> list[str]:
    from fennec_core.io.bundled import data_path

    with open(data_path("zoo105_models.csv"), newline="") as fh:
        return [r["architecture"] for r in csv.DictReader(fh)]


def run(refs: list[str], cache) -> dict:
    """Describe every reference through ``cache`` then fit graph2vec: timings and counts."""
    from fennec_core.architecture.encoding import describe_architecture, encode_graphs

    graphs, per, failed = [], [], []
    t0 = time.perf_counter()
    for ref in refs:
        t = time.perf_counter()
        try:
            graph, _ = describe_architecture(ref, ref, cache=cache)
        except Exception as exc:
            failed.append((ref, f"{type(exc).__name__}: {exc}"[:200]))
            continue
        per.append((time.perf_counter() - t, ref))
        graphs.append(graph)
    describe_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    encode_graphs(graphs, encoder="graph2vec", dims=4)
    encode_s = time.perf_counter() - t0
    return {"n": len(refs), "ok": len(graphs), "describe_s": describe_s, "encode_s": encode_s,
            "nodes": sum(g.graph.number_of_nodes() for g in graphs), "per": per, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=0, help="time a seeded sample of N timm architectures (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baseline", action="store_true", help="skip the pytorchcv-105 baseline")
    args = p.parse_args(argv)
    from fennec_core.architecture.graph_io import ArchCache

    all_refs = timm_architectures()
    refs = sorted(random.Random(args.seed).sample(all_refs, args.sample)) if 0 < args.sample < len(all_refs) else all_refs
    t0 = time.perf_counter()
    import timm  # noqa: F401

    import_timm = time.perf_counter() - t0
    rows: list[tuple[str, int, float, float, int, str]] = []
    with tempfile.TemporaryDirectory(prefix="fennec-bench-cache-") as tmp:
        os.environ["FENNEC_CACHE_DIR"] = tmp
        cache = ArchCache()  # $FENNEC_CACHE_DIR/architectures: empty
        base = None
        if not args.no_baseline:
            t0 = time.perf_counter()
            import pytorchcv.model_provider  # noqa: F401

            import_cv = time.perf_counter() - t0
            base = run(pytorchcv_architectures(), cache)
            rows.append(("pytorchcv 105, cold (baseline)", base["ok"], base["describe_s"], base["encode_s"],
                         base["nodes"], ""))
        cold = run(refs, cache)
        label = "timm, cold" + (f" (seeded sample {len(refs)}/{len(all_refs)}, seed {args.seed})"
                                if len(refs) < len(all_refs) else "")
        rows.append((label, cold["ok"], cold["describe_s"], cold["encode_s"], cold["nodes"], ""))
        warm = run(refs, cache)
        rows.append(("timm, cache-warm second pass", warm["ok"], warm["describe_s"], warm["encode_s"], warm["nodes"],
                     ""))
    if len(refs) < len(all_refs):  # extrapolate honestly, and say so
        k = len(all_refs) / max(cold["ok"], 1)
        rows.append((f"timm, all {len(all_refs)} (EXTRAPOLATED x{k:.2f} from the sample)", len(all_refs),
                     cold["describe_s"] * k, cold["encode_s"] * k, int(cold["nodes"] * k), "extrapolated"))

    base_ms = (base["describe_s"] + base["encode_s"]) * 1000 / base["ok"] if base else None
    print(f"import timm: {import_timm:.1f} s" + (f"; import pytorchcv: {import_cv:.1f} s" if base else "")
          + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print()
    print("| run | architectures | graph nodes | capture + features (s) | graph2vec fit (s) | total (s) "
          "| ms / architecture | vs pytorchcv-105 per architecture |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, d, e, nodes, _ in rows:
        ms = (d + e) * 1000 / max(n, 1)
        ratio = f"{ms / base_ms:.2f}x" if base_ms else "-"
        print(f"| {name} | {n} | {nodes} | {d:.1f} | {e:.1f} | {d + e:.1f} | {ms:.0f} | {ratio} |")
    per = sorted(cold["per"], reverse=True)
    times = [t for t, _ in per]
    print()
    print(f"timm cold, per architecture (capture + features): median {statistics.median(times) * 1000:.0f} ms, "
          f"90th percentile {sorted(times)[int(0.9 * (len(times) - 1))] * 1000:.0f} ms, max {times[0] * 1000:.0f} ms "
          f"({per[0][1]}); slowest five: " + ", ".join(f"{r.removeprefix('timm:')} {t:.1f} s" for t, r in per[:5]))
    for name, res in (("timm", cold), ("pytorchcv", base)):
        if res and res["failed"]:
            print(f"{name}: {len(res['failed'])} failed: " + "; ".join(f"{r} ({why})" for r, why in res["failed"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
