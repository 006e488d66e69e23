"""Fennec's pipeline versus Model Spider, leave one task out, beside the static baseline.

1. The controlled digits experiment (benchmarks/proxy_experiment.py: real images, task vectors
   that depend on what the images show), pixels proxy.
2. The three shared tables, each task described in words (bundled descriptions for the
   105-model table, tests/data/task_descriptions.csv for PARC and Model Spider) and embedded by
   the text proxy (all-MiniLM-L6-v2, real weights): one task token per task.
3. Time on the 105-model zoo on this CPU: Model Spider's training (7 described tasks) and the
   ranking latency of both rankers for one new task.

Run (about 10 min on 2 cores):

    python benchmarks/compare_rankers.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from conftest import DATA, PUBLISHED  # noqa: E402

RANKERS = ("fennec", "model-spider")


def _row(name: str, reports: dict) -> str:
    static = next(iter(reports.values())).mean("static")
    cells = [f"{static['weighted_tau']:.3f}"] + [f"{reports[r].mean()['weighted_tau']:.3f}" for r in RANKERS]
    pear = [f"{static['pearson']:.1f}"] + [f"{reports[r].mean()['pearson']:.1f}" for r in RANKERS]
    return f"| {name} | " + " | ".join(cells) + " | " + " / ".join(pear) + " |"


def main() -> None:
    from proxy_experiment import digit_zoo, pixel_embeddings

    from fennec_core import Fennec, registry
    from fennec_core.bundled_zoo import data_path, load_bundled
    from fennec_core.evaluation import evaluate
    from fennec_core.io.tables import convert_table, read_models, read_tasks

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer digit tasks (20) for a fast check")
    args = ap.parse_args()
    print("| evaluation (leave one task out) | static w-tau | fennec w-tau | model-spider w-tau | Pearson x100 s / f / ms |")
    print("|---|---|---|---|---|")
    n = 20 if args.quick else 40
    history, images, _ = digit_zoo(n, 40, 0)
    emb = pixel_embeddings(images)
    reports = {r: evaluate(Fennec(device="cpu", ranker=r), history, task_embeddings=emb) for r in RANKERS}
    print(_row(f"digits, {n} tasks x 40 models, pixels proxy", reports), flush=True)

    text = registry.create("task_proxy", "text", device="cpu")
    with open(DATA / "task_descriptions.csv", newline="") as fh:
        described = {r["task"]: r["description"] for r in csv.DictReader(fh)}
    described.update({t.id: t.description for t in read_tasks(data_path("zoo105_tasks.csv"))})
    for name in ("fennec105", "parc", "modelspider"):
        fname, kwargs = PUBLISHED[name]
        h = convert_table(DATA / fname, **kwargs)
        temb = {t: text.embed(described[t]) for t in h.task_ids}
        models = read_models(data_path("zoo105_models.csv")) if name == "fennec105" else None
        tasks = read_tasks(data_path("zoo105_tasks.csv")) if name == "fennec105" else None
        reports = {r: evaluate(Fennec(device="cpu", ranker=r), h, models=models, tasks=tasks, task_embeddings=temb)
                   for r in RANKERS}
        print(_row(f"{name}, text proxy ({len(h.model_ids)} models x {len(h.task_ids)} tasks)", reports), flush=True)

    zoo = load_bundled(device="cpu").zoo_
    temb = {t: text.embed(zoo.tasks[t].description) for t in zoo.history.task_ids}
    new = text.embed("photos of people holding yoga poses")
    print("\n| 105-model zoo, this CPU | seconds |")
    print("|---|---|")
    t0 = time.perf_counter()
    spider = Fennec(device="cpu", ranker="model-spider").fit(zoo.history, list(zoo.models.values()),
                                                             list(zoo.tasks.values()), task_embeddings=temb)
    t_fit = time.perf_counter() - t0
    info = spider.components.ranker._fit_info
    print(f"| model-spider: fit (transfer space + training, {info['epochs_run']} epochs) | {t_fit:.2f} |")
    fennec = Fennec(device="cpu").fit(zoo.history, list(zoo.models.values()), list(zoo.tasks.values()),
                                      task_embeddings=temb)
    for label, eng in (("fennec", fennec), ("model-spider", spider)):
        eng.rank(task_embeddings=new)  # first call fits the mapping (fennec)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            eng.rank(task_embeddings=new)
            times.append(time.perf_counter() - t0)
        print(f"| {label}: rank 105 models for one new task (median of 20) | {np.median(times) * 1e3:.2f} ms |")


if __name__ == "__main__":
    main()
