"""Controlled experiment: does the proxy mapping learn? Real images, a zoo whose task vectors
depend on what the images show.

Images: scikit-learn's handwritten digits (1,797 real 8x8 scans, 10 classes). Tasks: each is a
seeded random subset of 2-4 digit classes, represented by up to 60 of its images. Models:
each has a skill per digit class from a rank-3 model (skill = w_m . h_c); a model's score on a
task is its mean skill over the task's classes plus noise. So which models suit a task depends
on which digits its images show, and nothing else. Proxy: the ``pixels`` embedding (the 64
pixel intensities, centred and L2-normalised; no weights), or a random-weight ``dinov2`` ViT to
show the real proxy code path. Protocol: leave one task out; the hidden task is ranked from
its images alone, the mapping learned on the other tasks; beside the static baseline and the
cold ranking (no proxy). Run:

    python benchmarks/proxy_experiment.py [--tasks 40] [--models 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def digit_zoo(n_tasks: int = 40, n_models: int = 40, seed: int = 0, images_per_task: int = 60):
    """(History, {task: images [n, 8, 8]}, {task: classes}) of the controlled experiment."""
    from sklearn.datasets import load_digits

    from fennec_core.records import History

    rng = np.random.default_rng(seed)
    digits = load_digits()
    H = rng.normal(size=(10, 3))  # per digit class
    W = rng.normal(size=(n_models, 3))  # per model
    skill = W @ H.T  # [models, classes]
    images, classes, cols = {}, {}, []
    for t in range(n_tasks):
        cls = np.sort(rng.choice(10, size=int(rng.integers(2, 5)), replace=False))
        pool = np.flatnonzero(np.isin(digits.target, cls))
        pick = rng.choice(pool, size=min(images_per_task, len(pool)), replace=False)
        name = f"task{t:02d}_" + "".join(map(str, cls))
        images[name], classes[name] = digits.images[pick], cls
        cols.append(skill[:, cls].mean(axis=1) + rng.normal(scale=0.05, size=n_models))
    scores = np.column_stack(cols)
    history = History([f"model{m:02d}" for m in range(n_models)], list(images), scores, np.ones_like(scores, bool))
    return history, images, classes


def pixel_embeddings(images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The 64 pixel intensities per image, centred and L2-normalised."""
    out = {}
    for t, ims in images.items():
        x = ims.reshape(len(ims), -1).astype(np.float64)
        x = x - x.mean(axis=1, keepdims=True)
        out[t] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def main() -> None:
    from fennec_core import Fennec, registry
    from fennec_core.evaluation import evaluate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--models", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-vit", action="store_true", help="skip the random-weight dinov2 rows")
    args = ap.parse_args()
    history, images, _ = digit_zoo(args.tasks, args.models, args.seed)
    proxies = {"pixels": pixel_embeddings(images)}
    if not args.no_vit:
        t0 = time.perf_counter()
        vit = registry.create("task_proxy", "dinov2", model="vit_small_patch14_dinov2", pretrained="none",
                              model_kwargs={"img_size": 56}, device="cpu", cache=False)
        proxies["dinov2 (random weights)"] = {t: vit.embed((ims * 16).astype(np.uint8)) for t, ims in images.items()}
        print(f"dinov2 embedding of {sum(len(v) for v in images.values())} images: {time.perf_counter() - t0:.1f} s")
    print(f"\n{args.models} models x {args.tasks} tasks of real digit images (seed {args.seed}); leave one task out\n")
    print("| proxy | mapping | Pearson x100 | weighted tau | rel@1 | seconds |")
    print("|---|---|---|---|---|---|")
    cold = evaluate(Fennec(device="cpu", seed=args.seed), history, protocol="loo")
    s, c = cold.mean("static"), cold.mean()
    print(f"| none | static baseline | {s['pearson']:.1f} | {s['weighted_tau']:.3f} | {s['rel@1']:.3f} | |")
    print(f"| none | cold (mean task vector) | {c['pearson']:.1f} | {c['weighted_tau']:.3f} | {c['rel@1']:.3f} | |")
    for proxy, emb in proxies.items():
        for mapping in ("random-forest", "kernel-ridge", "knn"):
            t0 = time.perf_counter()
            r = evaluate(Fennec(device="cpu", seed=args.seed, task_mapping=mapping), history, protocol="loo",
                         task_embeddings=emb).mean()
            print(f"| {proxy} | {mapping} | {r['pearson']:.1f} | {r['weighted_tau']:.3f} | {r['rel@1']:.3f} | "
                  f"{time.perf_counter() - t0:.1f} |")


if __name__ == "__main__":
    main()
