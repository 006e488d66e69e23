"""Ceilings of any ranking on the bundled hf-nlp zoo, per target, beside the static baseline.

- **noise ceiling**: a fine-tuning result is one seed's draw. ``pretrain_seeds_*.csv`` (IBM
  model-recycling: about 20 seeds of each base model per target) gives each target's seed-to-seed
  standard deviation (the median over the six base models); the ceiling is the weighted tau between
  the truth and the truth plus that noise (mean of 20 seeded draws): what a perfect predictor
  of the *expected* result would score against one observed run.
- **oracle task vector**: the held-out target's own best vector in a rank-``k`` space of the
  other targets (``[p0, U_k]``: each model's mean clipped z-score and the top-``k`` principal
  directions of the clipped z-scores around it), fitted by least squares on the target's own
  column. No method that maps a task into that space can beat it.
- **static**: each model's mean z-score on the other targets (``evaluation.static_scores``).

Run from the repository root: ``python benchmarks/nlp_ceilings.py --data DIR``, DIR holding
model-recycling's ``pretrain_seeds_*.csv`` (IBM/model-recycling ``results/``; not in this repository).
Prints a table (per target and mean).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def seed_std(data: Path) -> dict[str, float]:
    """Each target's seed-to-seed std of the base models' own fine-tuning: the median over the six
    base models (t5 runs sometimes collapse, e.g. MNLI 0.35 vs 0.85, which would swamp a pooled std)."""
    per: dict[str, list[float]] = {}
    for f in sorted(data.glob("pretrain_seeds_*.csv")):
        runs: dict[str, list[float]] = {}
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                task = row["dataset name"]
                v = row["spearmanr"] if task == "stsb" else row["accuracy"]
                if v:
                    runs.setdefault(task, []).append(float(v))
        for task, vals in runs.items():
            if len(vals) > 1:
                per.setdefault(task, []).append(float(np.std(vals, ddof=1)))
    return {t: float(np.median(v)) for t, v in per.items()}


def main(argv: list[str] | None = None) -> int:
    """Print the ceilings table."""
    from fennec_core.evaluation.protocols import static_scores
    from fennec_core.history.normalize import TaskNormalizer
    from fennec_core.io import catalog
    from fennec_core.io.store import read_store
    from fennec_core.metrics import weighted_tau
    from fennec_core.records import History

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True,
                   help="folder with model-recycling's pretrain_seeds_*.csv (IBM/model-recycling results/)")
    p.add_argument("--ks", default="5,12", help="ranks of the oracle space (default 5,12)")
    args = p.parse_args(argv)
    arrays, manifest = read_store(catalog.get("hf-nlp").path)
    mask = arrays["history/mask"].astype(bool)
    hist = History(manifest["model_ids"], manifest["task_ids"], arrays["history/scores"], mask)
    hist = hist.select_models(mask.any(axis=1))
    std = seed_std(args.data)
    ks = [int(k) for k in args.ks.split(",")]
    rng = np.random.default_rng(0)
    rows = []
    for task in hist.task_ids:
        if task == "mnli_lp":
            continue
        train = hist.without_task(task)
        truth, obs = hist.column(task)
        static = static_scores(train)
        norm = TaskNormalizer.fit(train.scores, train.mask, "zscore-clip")
        Z = np.where(train.mask, norm.transform(train.scores), np.nan)
        p0 = np.nanmean(Z, axis=1)
        R = np.where(train.mask, Z - p0[:, None], 0.0)
        _, vecs = np.linalg.eigh(R.T @ R)
        col = TaskNormalizer.fit(truth[:, None], obs[:, None], "zscore-clip").transform(truth[:, None])[:, 0]
        oracle = []
        for k in ks:
            X = np.column_stack([p0, R @ vecs[:, ::-1][:, :k]])
            coef, *_ = np.linalg.lstsq(X[obs], col[obs], rcond=None)
            oracle.append(weighted_tau(truth[obs], (X @ coef)[obs]))
        t = truth[obs]
        noise = [weighted_tau(t, t + rng.normal(0.0, std.get(task, 0.0), t.size)) for _ in range(20)]
        rows.append([task, int(obs.sum()), weighted_tau(t, static[obs]), *oracle, float(np.mean(noise)),
                     std.get(task, float("nan"))])
    head = ["target", "n", "static", *[f"oracle k={k}" for k in ks], "noise ceiling", "seed std"]
    widths = [max(len(h), 20 if i == 0 else 8) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join((str(c) if isinstance(c, str | int) else f"{c:.3f}").ljust(w)
                        for c, w in zip(r, widths, strict=True)))
    means = [float(np.mean([r[i] for r in rows])) for i in range(2, len(head))]
    print("  ".join(["mean".ljust(widths[0]), "".ljust(widths[1])] + [f"{m:.3f}".ljust(w)
                                                                         for m, w in zip(means, widths[2:], strict=True)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
