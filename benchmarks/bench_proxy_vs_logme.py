"""Rank the bundled 105-model zoo for a new task from 100 images: Fennec (one proxy forward per
image, then a map and a product) versus LogME (a forward pass of every candidate model over
the same images, then LogME per model).

Images: 100 real handwritten digits from scikit-learn (10 classes), upscaled to each model's
input size. Weights: random everywhere (no downloads here); the cost of a forward pass does not
depend on the weights. Fennec's proxy is open_clip ViT-B-32 (the CPU-sized CLIP); its mapping
is learned from 7 historical tasks x 100 item embeddings (random vectors standing in for the
zoo's task embeddings: only the time is measured here). LogME's side builds each pytorchcv
model (not timed: a real user loads checkpoints instead), runs its feature extractor on the
100 images and computes LogME on the pooled features. Run (about 25 min on 2 cores; ``--every 3``
runs a third of the models and scales their time to 105):

    python benchmarks/bench_proxy_vs_logme.py [--models 105]
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np


def main() -> None:
    import torch
    from sklearn.datasets import load_digits

    from fennec_core import registry
    from fennec_core.bundled_zoo import data_path, load_bundled

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=105, help="how many zoo models LogME runs (default all 105)")
    ap.add_argument("--every", type=int, default=1, help="run LogME on every N-th model only; times scaled to 105")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    digits = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.choice(len(digits.images), 100, replace=False)
    images = (digits.images[idx] * 16).clip(0, 255).astype(np.uint8)
    labels = digits.target[idx]

    # -- Fennec --------------------------------------------------------------------------------
    bundled = load_bundled(device="cpu")
    z = bundled.zoo_
    # the bundled zoo refit with stand-in CLIP embeddings of its tasks (not timed)
    zoo = bundled.clone().fit(
        z.history, list(z.models.values()), list(z.tasks.values()), archi=z.archi,
        task_embeddings={t: rng.normal(size=(100, 512)).astype(np.float32) for t in z.history.task_ids},
        proxy={"name": "clip", "config": {"model": "ViT-B-32"}})
    proxy = registry.create("task_proxy", "clip", model="ViT-B-32", pretrained="none", device="cpu", cache=False)
    t0 = time.perf_counter()
    proxy._network()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    emb = proxy.embed(images)
    t_embed = time.perf_counter() - t0
    t0 = time.perf_counter()
    ranking = zoo.rank(task_embeddings=emb)
    t_rank = time.perf_counter() - t0
    t_fennec = t_embed + t_rank

    # -- LogME over every model ---------------------------------------------------------------
    from pytorchcv.model_provider import get_model

    logme = registry.create("estimator", "logme")
    with open(data_path("zoo105_models.csv"), newline="") as fh:
        names = [r["model"] for r in csv.DictReader(fh)][: args.models: args.every]
    t_forward = t_logme = t_build = 0.0
    for name in names:
        t0 = time.perf_counter()
        net = get_model(name, pretrained=False).eval()
        t_build += time.perf_counter() - t0
        size = net.in_size[0] if hasattr(net, "in_size") else 224
        x = torch.from_numpy(images).float().div(255).unsqueeze(1).repeat(1, 3, 1, 1)
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        t0 = time.perf_counter()
        grabbed = []  # the penultimate features: the input of the model's classifier (`output`)
        hook = net.output.register_forward_pre_hook(lambda _m, inp, out=grabbed: out.append(inp[0]))
        with torch.inference_mode():
            net(x)
        hook.remove()
        feats = grabbed[0]
        feats = feats.flatten(2).mean(-1) if feats.ndim == 4 else feats.flatten(1)
        t_forward += time.perf_counter() - t0
        t0 = time.perf_counter()
        logme.score(features=feats.numpy().astype(np.float64), labels=labels)
        t_logme += time.perf_counter() - t0
    scale = 105 / len(names)
    t_all = (t_forward + t_logme) * scale
    print(f"| step | seconds ({len(names)} LogME models{', scaled to 105' if scale != 1 else ''}) |")
    print("|---|---|")
    print(f"| Fennec: load the ViT-B-32 proxy (once per session, not counted) | {t_load:.2f} |")
    print(f"| Fennec: embed 100 images | {t_embed:.2f} |")
    print(f"| Fennec: map to the transfer space + rank 105 models | {t_rank:.3f} |")
    print(f"| **Fennec total** | **{t_fennec:.2f}** |")
    print(f"| LogME: build {len(names)} models (not counted) | {t_build * scale:.1f} |")
    print(f"| LogME: forward 100 images through each model | {t_forward * scale:.1f} |")
    print(f"| LogME: LogME on each model's features | {t_logme * scale:.1f} |")
    print(f"| **LogME total** | **{t_all:.1f}** |")
    print(f"| **ratio LogME / Fennec** | **{t_all / t_fennec:.0f}x** |")
    print(f"\nFennec's top 3: {', '.join(ranking.model_ids[:3])}")


if __name__ == "__main__":
    main()
