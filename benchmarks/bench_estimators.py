"""Time every transferability estimator on n=1,000 samples, d=2,048 features, C=100 classes.

Prints a Markdown table (median of 3 runs, seconds) with each time as a ratio of LogME's,
measured in the same run. Run:

    python benchmarks/bench_estimators.py [--n 1000] [--d 2048] [--classes 100]

Inputs are synthetic (class means + noise; source probs from a random 1,000-class head);
OTCE gets a source task of the same size. The paper's code measured about 20 ms per LogME call.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from fennec_core import registry

    rng = np.random.default_rng(0)
    n, d, C = args.n, args.d, args.classes
    y = np.arange(n) % C
    centers = rng.standard_normal((C, d))
    f = centers[y] + rng.standard_normal((n, d))
    logits = f @ rng.standard_normal((d, 1000)) / np.sqrt(d)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    src_y = rng.permutation(y)
    src = centers[src_y] + rng.standard_normal((n, d))
    times = {}
    for name in registry.available("estimator"):
        est = registry.create("estimator", name)
        kw = {"source_features": src, "source_labels": src_y} if name == "otce" else {}
        labels = f @ rng.standard_normal(d) if name == "logme-regression" else y
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            est.score(features=f, labels=labels, probs=probs, **kw)
            runs.append(time.perf_counter() - t0)
        times[name] = float(np.median(runs))
    base = times["logme"]
    print(f"n={n}, d={d}, C={C}; median of {args.repeat} runs")
    print()
    print("| estimator | seconds | x LogME |")
    print("|---|---|---|")
    for name, t in sorted(times.items(), key=lambda kv: kv[1]):
        print(f"| {name} | {t:.3f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
