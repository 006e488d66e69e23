"""Budgeted search (``search:K``) on every table, beside the static top-k and random order,
with the regret-vs-fine-tunes plot of docs/search.md.

Tables: the three published tables copied in ``tests/data`` (converted as in ``tests/conftest.py``;
credited in ``tests/data/SOURCES.md``) with the default engine, and the bundled zoos with their own
settings, each hidden task placed by its own embedding where the zoo has one (the same cases as
``benchmarks/interval_coverage.py``). For each table and step k = 1..K: mean regret (best true
score minus best found) and its share of the task's range, for Fennec's search (``--strategy``),
the static top-k and 20 seeded random orders. The pooled line averages the share over every
hidden task of every table (tables in different units are compared in shares only).

Run from the repository root:
``python benchmarks/search_tables.py [--zoos pytorchcv105,hf-nlp] [--k 5] [--plot docs/img/search_regret.png]``
(the plot needs matplotlib: ``pip install matplotlib``; hf-nlp takes about 8 minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from interval_coverage import TABLES, table_case, zoo_case  # noqa: E402

from fennec_core.evaluation import evaluate_search  # noqa: E402

METHODS = ("fennec", "static", "random")


def plot(results: dict[str, dict], path: str) -> None:
    """Regret share vs number of fine-tunes, one panel per table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), sharey=False, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mean = results[name]["mean"]
        steps = np.arange(1, len(mean["fennec"]["regret_share"]) + 1)
        for method, style in zip(METHODS, ("o-", "s--", "^:"), strict=True):
            ax.plot(steps, 100 * np.asarray(mean[method]["regret_share"]), style, label=method, markersize=4)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("fine-tunes (k)")
        ax.set_xticks(steps)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("regret, % of the task's range")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    """Print the table (and write the plot, JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--zoos", default="pytorchcv105")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--strategy", default="ei")
    p.add_argument("--plot", help="write the regret plot here (PNG)")
    p.add_argument("--json", help="write every table's report here")
    args = p.parse_args(argv)
    cases = [(n, lambda n=n: table_case(n)) for n in filter(None, args.tables.split(","))]
    cases += [(n, lambda n=n: zoo_case(n)) for n in filter(None, args.zoos.split(","))]
    results, shares = {}, {m: [] for m in METHODS}
    print("| table | tasks | k | fennec regret (share) | static top-k | random | fennec / static | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make in cases:
        engine, kw = make()
        history = kw.pop("history")
        t0 = time.perf_counter()
        report = evaluate_search(engine, history, args.k, strategy=args.strategy, **kw)
        results[name] = report.to_dict()
        for m in METHODS:
            shares[m].extend(t[m]["regret_share"] for t in report.tasks.values())
        for s in range(args.k):
            r = {m: report.mean(m, "regret")[s] for m in METHODS}
            sh = {m: report.mean(m, "regret_share")[s] for m in METHODS}
            ratio = r["fennec"] / r["static"] if r["static"] > 0 else float("nan")
            print(f"| {name} | {len(report.tasks)} | {s + 1} | {r['fennec']:.4g} ({sh['fennec']:.1%}) | "
                  f"{r['static']:.4g} ({sh['static']:.1%}) | {r['random']:.4g} ({sh['random']:.1%}) | {ratio:.2f} | "
                  f"{time.perf_counter() - t0:.0f} |", flush=True)
    pooled = {m: np.mean(shares[m], axis=0) for m in METHODS}
    for s in range(args.k):
        f, st, rd = (pooled[m][s] for m in METHODS)
        print(f"| pooled (share) | {len(shares['fennec'])} | {s + 1} | {f:.1%} | {st:.1%} | {rd:.1%} | "
              f"{f / st if st > 0 else float('nan'):.2f} | |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
