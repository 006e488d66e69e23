"""Leave one *model* out on the bundled real zoos, on a seeded sample of held-out models.

A practitioner adds a checkpoint with no results (``fennec add-model``): its vector is predicted
from its metadata. For each sampled model, its whole row is hidden, Fennec is refit on the
others with the zoo's settings, the model is added back from its features alone
(``Fennec.add_models``) and its predicted scores on every task are kept. Per task, the weighted
tau across the held-out models is compared with two baselines fitted on the same training rows:

- ``feature regression``: least squares of each task's z-scores on all the zoo's model features
  (what ``evaluate --protocol loo-model`` reports beside Fennec);
- ``simple``: hf-nlp: the mean of the held-out model's base model's checkpoints (per task);
  timm: least squares on log params, image size and the pretraining-data indicators.

The full protocol (every model in turn: ``fennec evaluate --zoo NAME --protocol loo-model``)
needs one refit per model, hours on hf-nlp here; the sample keeps it to minutes. Run from the
repository root: ``python benchmarks/loo_model_zoos.py [--zoo timm] [--sample 150]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fennec_core import Fennec  # noqa: E402
from fennec_core.evaluation.protocols import feature_regression_scores, is_probe  # noqa: E402
from fennec_core.history.normalize import TaskNormalizer  # noqa: E402
from fennec_core.io import catalog  # noqa: E402
from fennec_core.metrics import weighted_tau  # noqa: E402
from fennec_core.scoring.meta_score import feature_matrix  # noqa: E402

SIMPLE = {"timm": ("log10_param_count", "img_size", "pt_in1k", "pt_in12k", "pt_in22k", "pt_web", "pt_image_text",
                   "pt_selfsup", "pt_semisup", "pt_distilled", "pt_adversarial")}


def run(name: str, sample: int, seed: int = 0) -> list[list[str]]:
    """Rows (task, n, fennec, feature regression, simple) of one zoo."""
    loaded = Fennec.load(catalog.get(name).path, device="cpu")
    zoo = loaded.zoo_
    keep = [i for i in range(len(zoo.model_ids)) if zoo.history.mask[i].sum() >= 2]
    hist = zoo.history.select_models(keep)
    cards = [zoo.models[m] for m in hist.model_ids]
    names = sorted({k for c in cards for k in c.meta})
    X = feature_matrix([c.meta for c in cards], names)
    Z = TaskNormalizer.fit(hist.scores, hist.mask, "zscore").transform(hist.scores)
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(len(keep), min(sample, len(keep)), replace=False))
    m, n = hist.shape
    pred, base, simple = (np.full((len(held), n), np.nan) for _ in range(3))
    bases = [k for k in names if k.startswith("base_")]
    for r, i in enumerate(held):
        rest = np.array([j for j in range(m) if j != i])
        train = hist.select_models(rest)
        fitted = loaded.clone().fit(train, [cards[j] for j in rest], list(zoo.tasks.values()))
        fitted.add_models([cards[i]])
        pred[r] = fitted.predict_cells([cards[i].id], hist.task_ids)[0]
        zt = np.where(hist.mask[rest], Z[rest], 0.0)
        base[r] = feature_regression_scores(zt, hist.mask[rest], X[rest], X[[i]])[0]
        if name == "timm":
            cols = [names.index(c) for c in SIMPLE["timm"]]
            simple[r] = feature_regression_scores(zt, hist.mask[rest], X[rest][:, cols], X[[i]][:, cols])[0]
        else:  # the mean of its base model's checkpoints, per task
            own = [b for b in bases if cards[i].meta.get(b) == 1.0]
            same = rest[X[rest, names.index(own[0])] == 1.0] if own else rest
            for j in range(n):
                obs = same[hist.mask[same, j]]
                simple[r, j] = Z[obs, j].mean() if len(obs) else np.nan
    rows = []
    for j, task in enumerate(hist.task_ids):
        if is_probe(zoo.tasks.get(task)):
            continue
        ok = hist.mask[held, j]
        if ok.sum() < 3:
            continue
        truth = hist.scores[held, j][ok]
        rows.append([task, str(int(ok.sum())), *[f"{weighted_tau(truth, p[ok, j]):.3f}" for p in (pred, base, simple)]])
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print one table per zoo."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", action="append", help="hf-nlp and/or timm (default both)")
    p.add_argument("--sample", type=int, default=150, help="held-out models per zoo (default 150)")
    args = p.parse_args(argv)
    for name in args.zoo or ["hf-nlp", "timm"]:
        t0 = time.perf_counter()
        rows = run(name, args.sample)
        simple = "base-model mean" if name == "hf-nlp" else "params+size+pretraining regression"
        head = ["task", "n", "fennec", "feature regression", simple]
        means = [f"{np.mean([float(r[k]) for r in rows]):.3f}" for k in (2, 3, 4)]
        rows.append(["mean", "", *means])
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        print(f"\n{name}: {args.sample} held-out models, {time.perf_counter() - t0:.0f} s")
        for r in [head, ["-" * w for w in widths], *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
